//! Personal-data breaches (SPEC 10a): the incident as the DPO records it, the legal clocks that
//! start at detection — 152-FZ Art. 21(3.1) 24 h initial notice and 72 h follow-up to
//! Roskomnadzor, for a computer incident 152-FZ Art. 19(12) notices to the state system for
//! detecting computer attacks (GosSOPKA, through the NCCCI: 24 h and 72 h as FSB Order No. 77 of
//! 13.02.2023 sets them), GDPR Art. 33 72 h — the GDPR Art. 34 communication to the subjects of a
//! high-risk breach, and the drafts of each notice. Everything here is plain functions over a [`Breach`];
//! storage and HTTP are in `admin::breaches`.
//!
//! States only move forward: `open` → `notified-24h` → `notified-72h` → `closed` (steps may be
//! skipped, e.g. a GDPR-only operator goes straight to `notified-72h`). A clock is met when the
//! breach reached its state by the due time; reaching it later is recorded as late, not hidden.

pub mod notice;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::policy::{Policy, Regime};
use crate::records::oversight::{Affected, BreachRow};
use crate::Millis;

pub const HOUR_MS: Millis = 3_600_000;

/// The lifecycle of a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "notified-24h")]
    Notified24h,
    #[serde(rename = "notified-72h")]
    Notified72h,
    #[serde(rename = "closed")]
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Notified24h => "notified-24h",
            State::Notified72h => "notified-72h",
            State::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        match s {
            "open" => Some(State::Open),
            "notified-24h" => Some(State::Notified24h),
            "notified-72h" => Some(State::Notified72h),
            "closed" => Some(State::Closed),
            _ => None,
        }
    }
}

/// What the DPO sends to open a breach.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBreach {
    /// When the operator became aware of it (RFC 3339 or Unix ms); now when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub detected_at: Option<Value>,
    /// Declared category ids the incident touches.
    pub categories: Vec<String>,
    /// When the data may have been exposed: values collected in this window count as affected.
    #[serde(default)]
    pub window: Option<Window>,
    pub description: String,
    /// Presumed causes (152-FZ 24 h notice).
    #[serde(default)]
    pub causes: Option<String>,
    /// Presumed harm to the subjects' rights (152-FZ 24 h notice).
    #[serde(default)]
    pub harm: Option<String>,
    /// Measures taken or proposed (both laws).
    #[serde(default)]
    pub measures: Option<String>,
    /// Likely consequences (GDPR Art. 33(3)(c)).
    #[serde(default)]
    pub consequences: Option<String>,
    /// Likely to result in a high risk to the subjects' rights and freedoms (GDPR Art. 34(1)):
    /// they are then told, without undue delay.
    #[serde(default)]
    pub high_risk: bool,
    /// A computer incident (an attack, not e.g. a lost paper file): 152-FZ Art. 19(12) asks for
    /// notices to GosSOPKA too. True unless said otherwise.
    #[serde(default)]
    pub computer_incident: Option<bool>,
    /// What the subjects can do to protect themselves, for the Art. 34 communication.
    #[serde(default)]
    pub advice: Option<String>,
}

/// A notice sent outside the state moves: to GosSOPKA (`gossopka_24h`, `gossopka_72h`) or to
/// the subjects (`subjects`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeSent {
    #[schema(pattern = "^(gossopka_24h|gossopka_72h|subjects)$")]
    pub notice: String,
    /// When it was sent (RFC 3339 or Unix ms); now when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Value>,
    /// The recipient's reference (the NCCCI's incident number).
    #[serde(default)]
    pub reference: Option<String>,
    /// How the subjects were told (`email`, `letter`, `public`: Art. 34(3)(c)).
    #[serde(default)]
    pub channel: Option<String>,
    /// How many subjects were told.
    #[serde(default)]
    pub recipients: Option<i64>,
}

/// A notice recorded as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub notice: String,
    pub at: Millis,
    pub by: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub recipients: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Value>,
}

/// A state change as the DPO sends it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    #[schema(pattern = "^(notified-24h|notified-72h|closed)$")]
    pub state: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Results of the internal investigation (152-FZ 72 h notice).
    #[serde(default)]
    pub investigation: Option<String>,
    /// Persons whose actions caused the incident, if identified (152-FZ 72 h notice).
    #[serde(default)]
    pub responsible_persons: Option<String>,
    /// Updated measures.
    #[serde(default)]
    pub measures: Option<String>,
    /// A reference of the authority (e.g. the Roskomnadzor or supervisory authority case number).
    #[serde(default)]
    pub reference: Option<String>,
    /// The risk to the subjects as now assessed (GDPR Art. 34(1)).
    #[serde(default)]
    pub high_risk: Option<bool>,
}

/// The stored description of a breach (the `body` JSON of [`BreachRow`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub categories: Vec<String>,
    pub window_from: Option<Millis>,
    pub window_until: Millis,
    pub description: String,
    pub causes: Option<String>,
    pub harm: Option<String>,
    pub measures: Option<String>,
    pub consequences: Option<String>,
    pub investigation: Option<String>,
    pub responsible_persons: Option<String>,
    pub references: Vec<String>,
    pub regimes: Vec<String>,
    pub estimate: Affected,
    #[serde(default)]
    pub high_risk: bool,
    /// Breaches recorded before this was asked count as computer incidents (the reading that
    /// asks for more notices, not fewer).
    #[serde(default = "yes")]
    pub computer_incident: bool,
    #[serde(default)]
    pub advice: Option<String>,
    #[serde(default)]
    pub sent: Vec<Sent>,
}

fn yes() -> bool {
    true
}

/// One state change in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub state: String,
    pub at: Millis,
    pub by: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// A breach with its stored parts decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub id: String,
    pub detected_at: Millis,
    pub opened_at: Millis,
    pub opened_by: String,
    pub state: State,
    pub body: Body,
    pub history: Vec<Step>,
    pub updated_at: Millis,
}

/// Why a request about a breach is refused (becomes a 4xx with this code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

/// RFC 3339 or Unix milliseconds in a JSON value.
fn time_of(v: &Value, field: &str) -> Result<Millis, Invalid> {
    crate::time_value(v).ok_or_else(|| {
        invalid(
            "invalid_time",
            format!("{field} must be an RFC 3339 time or Unix milliseconds"),
        )
    })
}

fn text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    match v.map(|s| s.trim().to_owned()) {
        Some(s) if s.chars().count() > max => Err(invalid(
            "field_too_long",
            format!("{field} is longer than {max} characters"),
        )),
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Longest free text accepted in one field.
pub const MAX_TEXT: usize = 20_000;
/// A detection time may be this far in the future (clock skew), no more.
pub const MAX_SKEW_MS: Millis = 5 * 60_000;

/// Checks a new breach against the policy; the estimate is computed afterwards by the caller
/// (it needs the store) over the returned body's categories and window.
pub fn validate(input: NewBreach, policy: &Policy, now: Millis) -> Result<(Millis, Body), Invalid> {
    let detected_at = match &input.detected_at {
        None => now,
        Some(v) => time_of(v, "detected_at")?,
    };
    if detected_at > now + MAX_SKEW_MS {
        return Err(invalid("invalid_time", "detected_at is in the future"));
    }
    if input.categories.is_empty() {
        return Err(invalid(
            "categories_required",
            "name the affected categories (ids declared under `categories`)",
        ));
    }
    let mut categories = input.categories;
    categories.sort();
    categories.dedup();
    if let Some(c) = categories
        .iter()
        .find(|c| !policy.categories.iter().any(|d| &d.id == *c))
    {
        return Err(invalid(
            "unknown_category",
            format!("category `{c}` is not declared in the policies"),
        ));
    }
    let window = input.window.unwrap_or_default();
    let window_from = window
        .from
        .as_ref()
        .map(|v| time_of(v, "window.from"))
        .transpose()?;
    let window_until = window
        .until
        .as_ref()
        .map(|v| time_of(v, "window.until"))
        .transpose()?
        .unwrap_or(detected_at);
    if window_from.is_some_and(|f| f > window_until) {
        return Err(invalid(
            "invalid_window",
            "window.from is after window.until",
        ));
    }
    let description = text("description", Some(input.description), MAX_TEXT)?
        .ok_or_else(|| invalid("description_required", "describe the incident"))?;
    let regimes = policy
        .controller
        .regimes
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    Ok((
        detected_at,
        Body {
            categories,
            window_from,
            window_until,
            description,
            causes: text("causes", input.causes, MAX_TEXT)?,
            harm: text("harm", input.harm, MAX_TEXT)?,
            measures: text("measures", input.measures, MAX_TEXT)?,
            consequences: text("consequences", input.consequences, MAX_TEXT)?,
            investigation: None,
            responsible_persons: None,
            references: Vec::new(),
            regimes,
            estimate: Affected::default(),
            high_risk: input.high_risk,
            computer_incident: input.computer_incident.unwrap_or(true),
            advice: text("advice", input.advice, MAX_TEXT)?,
            sent: Vec::new(),
        },
    ))
}

/// A new breach, ready to store.
pub fn open(id: String, detected_at: Millis, body: Body, by: &str, now: Millis) -> Breach {
    Breach {
        id,
        detected_at,
        opened_at: now,
        opened_by: by.to_owned(),
        state: State::Open,
        body,
        history: vec![Step {
            state: State::Open.as_str().into(),
            at: now,
            by: by.to_owned(),
            note: None,
        }],
        updated_at: now,
    }
}

/// Applies a state change: forward only, a note required to close, follow-up facts merged.
pub fn advance(
    b: &mut Breach,
    change: StateChange,
    by: &str,
    now: Millis,
) -> Result<State, Invalid> {
    let to = State::parse(&change.state).ok_or_else(|| {
        invalid(
            "invalid_state",
            "state must be notified-24h, notified-72h or closed",
        )
    })?;
    if b.state == State::Closed {
        return Err(invalid("breach_closed", "the breach is closed"));
    }
    if to <= b.state {
        return Err(invalid(
            "invalid_transition",
            format!(
                "a breach in state {} cannot move to {} (states only move forward)",
                b.state.as_str(),
                to.as_str()
            ),
        ));
    }
    let note = text("note", change.note, MAX_TEXT)?;
    if to == State::Closed && note.is_none() {
        return Err(invalid(
            "note_required",
            "closing a breach needs a note saying how it ended",
        ));
    }
    let from = b.state;
    if let Some(v) = text("investigation", change.investigation, MAX_TEXT)? {
        b.body.investigation = Some(v);
    }
    if let Some(v) = text("responsible_persons", change.responsible_persons, MAX_TEXT)? {
        b.body.responsible_persons = Some(v);
    }
    if let Some(v) = text("measures", change.measures, MAX_TEXT)? {
        b.body.measures = Some(v);
    }
    if let Some(v) = text("reference", change.reference, 200)? {
        b.body.references.push(v);
    }
    if let Some(h) = change.high_risk {
        b.body.high_risk = h;
    }
    b.state = to;
    // Strictly later than what was read: it is the version a concurrent change is checked against.
    b.updated_at = now.max(b.updated_at + 1);
    b.history.push(Step {
        state: to.as_str().into(),
        at: now,
        by: by.to_owned(),
        note,
    });
    Ok(from)
}

/// The notices of [`NoticeSent`] that apply to `b`.
pub fn notices_due(b: &Breach) -> Vec<&'static str> {
    let has = |r: Regime| b.body.regimes.iter().any(|x| x == r.as_str());
    let mut out = Vec::new();
    if has(Regime::Fz152) && b.body.computer_incident {
        out.extend(["gossopka_24h", "gossopka_72h"]);
    }
    if has(Regime::Gdpr) {
        out.push("subjects");
    }
    out
}

/// Records a notice as sent (once each); returns whether it was sent after its clock ran out.
pub fn record_sent(
    b: &mut Breach,
    input: NoticeSent,
    by: &str,
    now: Millis,
) -> Result<bool, Invalid> {
    let Some(notice) = notices_due(b).into_iter().find(|n| *n == input.notice) else {
        let allowed = notices_due(b).join(", ");
        return Err(invalid(
            "invalid_notice",
            format!("notice must be one of: {allowed} (for this breach's regimes)"),
        ));
    };
    if b.body.sent.iter().any(|s| s.notice == notice) {
        return Err(invalid(
            "already_recorded",
            format!("{notice} is already recorded as sent"),
        ));
    }
    let at = match &input.sent_at {
        None => now,
        Some(v) => time_of(v, "sent_at")?,
    };
    if at > now + MAX_SKEW_MS || at < b.detected_at {
        return Err(invalid(
            "invalid_time",
            "sent_at is in the future or before the detection",
        ));
    }
    if input.recipients.is_some_and(|n| n < 0) {
        return Err(invalid("invalid_recipients", "recipients is a count"));
    }
    b.body.sent.push(Sent {
        notice: notice.to_owned(),
        at,
        by: by.to_owned(),
        reference: text("reference", input.reference, 200)?,
        channel: text("channel", input.channel, 200)?,
        recipients: input.recipients,
    });
    b.updated_at = now.max(b.updated_at + 1);
    let late = clocks(b)
        .iter()
        .find(|c| c.id == notice)
        .is_some_and(|c| c.late);
    Ok(late)
}

/// What meets a clock: the breach reaching a state, or a notice recorded as sent.
#[derive(Clone, Copy)]
enum Meets {
    State(State),
    Sent(&'static str),
}

/// One legal clock of a breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clock {
    pub id: &'static str,
    pub regime: &'static str,
    pub law: &'static str,
    pub what: &'static str,
    pub due_at: Millis,
    /// When the breach reached the state that meets this clock.
    pub met_at: Option<Millis>,
    pub late: bool,
}

/// The notice clocks still running over a set of breaches, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockGauges {
    /// Unmet clocks of breaches not closed.
    pub running: i64,
    /// …of which past their due time.
    pub overdue: i64,
    /// Seconds from `now` to the earliest running clock's due time (negative once past it).
    pub next_due_s: Option<i64>,
}

/// [`ClockGauges`] of `breaches` at `now`. A closed breach stops its clocks.
pub fn clock_gauges(breaches: &[Breach], now: Millis) -> ClockGauges {
    let mut g = ClockGauges::default();
    for b in breaches.iter().filter(|b| b.state != State::Closed) {
        for c in clocks(b).into_iter().filter(|c| c.met_at.is_none()) {
            g.running += 1;
            g.overdue += i64::from(now > c.due_at);
            let left = (c.due_at - now).div_euclid(1000);
            g.next_due_s = Some(g.next_due_s.map_or(left, |n| n.min(left)));
        }
    }
    g
}

/// The clocks that apply under the breach's regimes, earliest first.
pub fn clocks(b: &Breach) -> Vec<Clock> {
    let reached = |m: Meets| -> Option<Millis> {
        match m {
            Meets::State(s) => b
                .history
                .iter()
                .find(|h| State::parse(&h.state).is_some_and(|x| x >= s && x != State::Closed))
                .map(|h| h.at),
            Meets::Sent(n) => b.body.sent.iter().find(|x| x.notice == n).map(|x| x.at),
        }
    };
    let has = |r: Regime| b.body.regimes.iter().any(|x| x == r.as_str());
    let mut out = Vec::new();
    let mut push =
        |(id, regime, law, what): (&'static str, &'static str, &'static str, &'static str),
         hours: Millis,
         meets| {
            let due_at = b.detected_at + hours * HOUR_MS;
            let met_at = reached(meets);
            out.push(Clock {
                id,
                regime,
                law,
                what,
                due_at,
                met_at,
                late: met_at.is_some_and(|m| m > due_at),
            });
        };
    if has(Regime::Fz152) {
        let rkn = "initial notice to Roskomnadzor";
        push(
            ("fz152_24h", "fz152", "152-FZ Art. 21(3.1)(1)", rkn),
            24,
            Meets::State(State::Notified24h),
        );
        let results = "investigation results to Roskomnadzor";
        push(
            ("fz152_72h", "fz152", "152-FZ Art. 21(3.1)(2)", results),
            72,
            Meets::State(State::Notified72h),
        );
    }
    if has(Regime::Fz152) && b.body.computer_incident {
        let law = "152-FZ Art. 19(12); FSB Order No. 77 of 13.02.2023";
        push(
            (
                "gossopka_24h",
                "fz152",
                law,
                "computer incident notice to GosSOPKA (NCCCI)",
            ),
            24,
            Meets::Sent("gossopka_24h"),
        );
        push(
            (
                "gossopka_72h",
                "fz152",
                law,
                "investigation results to GosSOPKA (NCCCI)",
            ),
            72,
            Meets::Sent("gossopka_72h"),
        );
    }
    if has(Regime::Gdpr) {
        let what = "notification to the supervisory authority";
        push(
            ("gdpr_72h", "gdpr", "GDPR Art. 33(1)", what),
            72,
            Meets::State(State::Notified72h),
        );
    }
    out.sort_by_key(|c| c.due_at);
    out
}

impl Breach {
    /// GDPR Art. 34: whether the subjects must be told, and whether they were. It has no clock
    /// in hours: "without undue delay".
    fn subjects_notice(&self) -> Value {
        let gdpr = self.body.regimes.iter().any(|r| r == Regime::Gdpr.as_str());
        let sent = self.body.sent.iter().find(|x| x.notice == "subjects");
        json!({
            "required": gdpr && self.body.high_risk,
            "law": "GDPR Art. 34(1)",
            "due": "without undue delay",
            "sent_at": sent.map(|x| crate::rfc3339(x.at)),
            "channel": sent.and_then(|x| x.channel.clone()),
            "recipients": sent.and_then(|x| x.recipients),
            "pending": gdpr && self.body.high_risk && sent.is_none(),
        })
    }

    pub fn from_row(r: &BreachRow) -> Result<Breach, serde_json::Error> {
        Ok(Breach {
            id: r.id.clone(),
            detected_at: r.detected_at,
            opened_at: r.opened_at,
            opened_by: r.opened_by.clone(),
            state: State::parse(&r.state).unwrap_or(State::Open),
            body: serde_json::from_str(&r.body)?,
            history: serde_json::from_str(&r.history)?,
            updated_at: r.updated_at,
        })
    }

    pub fn to_row(&self) -> BreachRow {
        BreachRow {
            id: self.id.clone(),
            detected_at: self.detected_at,
            opened_at: self.opened_at,
            opened_by: self.opened_by.clone(),
            state: self.state.as_str().into(),
            body: serde_json::to_string(&self.body).expect("a breach body serializes"),
            history: serde_json::to_string(&self.history).expect("a history serializes"),
            updated_at: self.updated_at,
            expected_updated_at: None,
        }
    }

    /// The API view: the incident, its clocks with the time left at `now`, and its history.
    pub fn to_json(&self, now: Millis) -> Value {
        let b = &self.body;
        // A closed breach stops its clocks; an unmet clock of a closed breach stays unmet.
        let running = |c: &Clock| c.met_at.is_none() && self.state != State::Closed;
        let clocks: Vec<Value> = clocks(self)
            .into_iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "regime": c.regime,
                    "law": c.law,
                    "what": c.what,
                    "due_at": crate::rfc3339(c.due_at),
                    "met_at": c.met_at.map(crate::rfc3339),
                    "late": c.late,
                    "remaining_s": if running(&c) { json!((c.due_at - now) / 1000) } else { Value::Null },
                    "overdue": running(&c) && now > c.due_at,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "state": self.state.as_str(),
            "detected_at": crate::rfc3339(self.detected_at),
            "opened_at": crate::rfc3339(self.opened_at),
            "opened_by": self.opened_by,
            "categories": b.categories,
            "window": {"from": b.window_from.map(crate::rfc3339), "until": crate::rfc3339(b.window_until)},
            "description": b.description,
            "causes": b.causes,
            "harm": b.harm,
            "measures": b.measures,
            "consequences": b.consequences,
            "investigation": b.investigation,
            "responsible_persons": b.responsible_persons,
            "references": b.references,
            "estimate": {"subjects": b.estimate.subjects, "records": b.estimate.records},
            "high_risk": b.high_risk,
            "computer_incident": b.computer_incident,
            "advice": b.advice,
            "clocks": clocks,
            "subjects_notice": self.subjects_notice(),
            "sent": b.sent.iter().map(|x| json!({
                "notice": x.notice, "at": crate::rfc3339(x.at), "by": x.by, "reference": x.reference,
                "channel": x.channel, "recipients": x.recipients,
            })).collect::<Vec<_>>(),
            "history": self.history.iter().map(|h| json!({
                "state": h.state, "at": crate::rfc3339(h.at), "by": h.by, "note": h.note,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests;
