//! Cross-border transfers (SPEC 10a, 152-FZ Art. 12). Data sent to an upstream or a detokenizing
//! service in another country than RU is a transfer, allowed only under a recorded notification to
//! Roskomnadzor for that country and purpose; for a country outside the adequate list (shipped as
//! data) transfers may start only after 10 working days from Roskomnadzor's receipt of the
//! notice. The rule is [`decide`], a plain function; [`Notified`] keeps the recorded notifications in memory for the hot path and
//! refuses every foreign transfer when it cannot vouch for them (fail closed).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use crate::records::oversight::NotificationRow;
use crate::requests::calendar::Calendar;
use crate::Millis;

/// The shipped list (Convention 108 parties and the Roskomnadzor list).
pub const SHIPPED: &str = include_str!("../../../../data/adequate-countries.txt");

/// Working days between filing and the first transfer to a non-adequate country.
pub const WAIT_WORKING_DAYS: u32 = 10;

/// How long the in-memory copy of the notifications may be trusted without a successful refresh.
pub const STALE_AFTER_MS: Millis = 60_000;

/// A line of an adequacy list that is not a country code; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: `{code}` is not an ISO 3166-1 alpha-2 code")]
pub struct NotACountryCode {
    pub line: usize,
    pub code: String,
}

/// Calendar days a notice is assumed to take to reach Roskomnadzor when its receipt is not
/// recorded (`[transfers] delivery_days`).
pub const DEFAULT_DELIVERY_DAYS: u32 = 7;

/// The parameters of the Art. 12 rule: the countries with adequate protection (ISO 3166-1
/// alpha-2), and how long a notice is assumed to take to reach Roskomnadzor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adequacy {
    countries: BTreeSet<String>,
    pub delivery_days: u32,
}

impl Adequacy {
    /// The same list with another assumed delivery time.
    pub fn with_delivery_days(mut self, days: u32) -> Adequacy {
        self.delivery_days = days;
        self
    }

    pub fn shipped() -> Adequacy {
        Adequacy::parse(SHIPPED).expect("the shipped adequacy list parses")
    }

    /// One code per line, `#` comments; errors name the line.
    pub fn parse(text: &str) -> Result<Adequacy, NotACountryCode> {
        let mut set = BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let code = raw.split('#').next().unwrap_or_default().trim();
            if code.is_empty() {
                continue;
            }
            if !crate::policy::is_country_code(code) {
                return Err(NotACountryCode {
                    line: i + 1,
                    code: code.to_owned(),
                });
            }
            set.insert(code.to_ascii_uppercase());
        }
        Ok(Adequacy {
            countries: set,
            delivery_days: DEFAULT_DELIVERY_DAYS,
        })
    }

    pub fn contains(&self, country: &str) -> bool {
        self.countries.contains(&country.to_ascii_uppercase())
    }
}

pub use crate::policy::is_foreign;

/// When transfers under a notification may start, and whether the wait could be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub allowed_from: Millis,
    /// The first year of the wait the production calendar does not cover: the wait cannot be
    /// counted there, so it is not over (fail closed).
    pub uncovered: Option<i32>,
}

impl Wait {
    pub fn over(&self, now: Millis) -> bool {
        self.allowed_from <= now && self.uncovered.is_none()
    }
}

/// When Roskomnadzor received a notification: the day recorded, or the filing day plus the
/// assumed delivery time (calendar days), both on the operator's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub filed_at: Millis,
    /// `received_by_authority_at`, when the DPO recorded it.
    pub received_at: Option<Millis>,
    pub delivery_days: u32,
}

impl Receipt {
    pub fn of(n: &NotificationRow, adequacy: &Adequacy) -> Receipt {
        Receipt {
            filed_at: n.filed_at,
            received_at: n.received_at,
            delivery_days: adequacy.delivery_days,
        }
    }

    /// The operator's day of receipt.
    pub fn day(&self, zone: &crate::legal_day::LegalZone) -> time::Date {
        match self.received_at {
            Some(t) => zone.day_of(t),
            None => zone
                .day_of(self.filed_at)
                .saturating_add(time::Duration::days(i64::from(self.delivery_days))),
        }
    }
}

/// The wait of a notification: none for an adequate country (transfers may start once it is
/// filed), else until the end of the tenth working day after the day Roskomnadzor received it
/// (152-FZ Art. 12(6), (10)), both days the operator's.
pub fn wait(country: &str, receipt: Receipt, adequacy: &Adequacy, cal: &Calendar) -> Wait {
    if adequacy.contains(country) {
        return Wait {
            allowed_from: receipt.filed_at,
            uncovered: None,
        };
    }
    let zone = cal.zone();
    let received = receipt.day(zone);
    let last = cal.add_working_days(received, WAIT_WORKING_DAYS);
    Wait {
        allowed_from: zone.end_of(last) + 1,
        uncovered: cal.uncovered(received, last),
    }
}

/// When transfers under a notification may start.
pub fn allowed_from(
    country: &str,
    receipt: Receipt,
    adequacy: &Adequacy,
    cal: &Calendar,
) -> Millis {
    wait(country, receipt, adequacy, cal).allowed_from
}

/// Why a transfer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No notification is recorded for the country and purpose.
    NotNotified,
    /// Filed, but the country is not adequate and 10 working days have not passed.
    Waiting { allowed_from: Millis },
    /// The recorded notifications could not be read recently: nothing goes abroad.
    Unverified,
    /// The 10 working days run into a year the production calendar does not cover: the wait
    /// cannot be counted, so it is not over.
    CalendarUncovered { year: i32 },
}

impl Refusal {
    /// A sentence for the JSON error and the audit entry (no personal data).
    pub fn explain(&self, country: &str, purpose: &str) -> String {
        match self {
            Refusal::NotNotified => format!(
                "transfer to {country} for `{purpose}` needs a recorded 152-FZ Art. 12 notification (POST /admin/v1/transfers)"
            ),
            Refusal::Waiting { allowed_from } => format!(
                "{country} is not on the adequate list: transfers for `{purpose}` may start at {} (10 working days after filing)",
                crate::rfc3339(*allowed_from)
            ),
            Refusal::Unverified => {
                "the recorded cross-border notifications cannot be read: transfers abroad are held".into()
            }
            Refusal::CalendarUncovered { year } => format!(
                "{country} is not on the adequate list and the production calendar does not cover {year}: the 10 working days cannot be counted, so transfers for `{purpose}` wait until `[requests] calendar_file` covers it"
            ),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotNotified => "not_notified",
            Refusal::Waiting { .. } => "waiting_period",
            Refusal::Unverified => "unverified",
            Refusal::CalendarUncovered { .. } => "calendar_unverified",
        }
    }
}

/// A transfer that was refused and audited, with the sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub message: String,
}

/// The rule: may data for `purpose` go to `country` at `now`?
pub fn decide(
    country: &str,
    purpose: &str,
    notifications: &[NotificationRow],
    adequacy: &Adequacy,
    cal: &Calendar,
    now: Millis,
) -> Result<(), Refusal> {
    if !is_foreign(country) {
        return Ok(());
    }
    let mut waiting: Option<Millis> = None;
    let mut uncovered = None;
    let live = notifications
        .iter()
        .filter(|n| n.country.eq_ignore_ascii_case(country) && n.purpose == purpose)
        .filter(|n| n.withdrawn_at.is_none_or(|w| w > now));
    for n in live {
        let w = wait(country, Receipt::of(n, adequacy), adequacy, cal);
        if w.over(now) {
            return Ok(());
        }
        if w.allowed_from > now {
            waiting = Some(waiting.map_or(w.allowed_from, |t| t.min(w.allowed_from)));
        } else {
            uncovered = w.uncovered;
        }
    }
    match (waiting, uncovered) {
        (Some(t), _) => Err(Refusal::Waiting { allowed_from: t }),
        (None, Some(year)) => Err(Refusal::CalendarUncovered { year }),
        (None, None) => Err(Refusal::NotNotified),
    }
}

/// The notifications as last read from the store, for [`decide`] on the hot path.
pub struct Notified {
    pub adequacy: Adequacy,
    calendar: Arc<Calendar>,
    state: RwLock<Cached>,
}

struct Cached {
    notifications: Arc<[NotificationRow]>,
    read_at: Option<Millis>,
}

impl Notified {
    pub fn new(adequacy: Adequacy, calendar: Arc<Calendar>) -> Notified {
        Notified {
            adequacy,
            calendar,
            state: RwLock::new(Cached {
                notifications: Arc::from(Vec::new()),
                read_at: None,
            }),
        }
    }

    /// Replaces the cached notifications with `rows`, read at `now`; until the next call the old
    /// copy ages towards [`STALE_AFTER_MS`].
    pub fn set(&self, rows: Vec<NotificationRow>, now: Millis) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.notifications = Arc::from(rows);
        s.read_at = Some(now);
    }

    pub fn notifications(&self) -> Arc<[NotificationRow]> {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .notifications
            .clone()
    }

    /// Whether the cached notifications are too old to decide on (every transfer abroad is then
    /// refused as unverified).
    pub fn stale(&self, now: Millis) -> bool {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.read_at.is_none_or(|t| now - t > STALE_AFTER_MS)
    }

    /// [`decide`] on the cached notifications; domestic transfers never wait for the cache.
    pub fn check(&self, country: &str, purpose: &str, now: Millis) -> Result<(), Refusal> {
        if !is_foreign(country) {
            return Ok(());
        }
        let (rows, read_at) = {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            (s.notifications.clone(), s.read_at)
        };
        match read_at {
            Some(t) if now - t <= STALE_AFTER_MS => {
                decide(country, purpose, &rows, &self.adequacy, &self.calendar, now)
            }
            _ => Err(Refusal::Unverified),
        }
    }

    /// When transfers under a notification may start (see [`wait`]).
    pub fn wait(&self, n: &NotificationRow) -> Wait {
        wait(
            &n.country,
            Receipt::of(n, &self.adequacy),
            &self.adequacy,
            &self.calendar,
        )
    }

    /// The notification's receipt by Roskomnadzor, recorded or assumed.
    pub fn receipt(&self, n: &NotificationRow) -> Receipt {
        Receipt::of(n, &self.adequacy)
    }

    pub fn zone(&self) -> &crate::legal_day::LegalZone {
        self.calendar.zone()
    }
}

#[cfg(test)]
mod tests;
