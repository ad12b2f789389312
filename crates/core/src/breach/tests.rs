use std::path::PathBuf;

use serde_json::json;

use super::notice::{self, NoticeKind};
use super::*;
use crate::legal_day::LegalZone;

const T0: Millis = 1_780_000_000_000; // 2026-05-28T20:26:40Z

fn shop() -> Policy {
    Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn new_breach(v: serde_json::Value) -> NewBreach {
    serde_json::from_value(v).unwrap()
}

/// A breach that is not a computer incident (no GosSOPKA clocks), for the Roskomnadzor and
/// GDPR clocks alone.
fn opened(policy: &Policy) -> Breach {
    let (at, body) = validate(
        new_breach(json!({
            "detected_at": T0,
            "categories": ["contact", "identity"],
            "window": {"from": T0 - 86_400_000},
            "description": "CRM export left on a public share",
            "computer_incident": false,
        })),
        policy,
        T0 + 60_000,
    )
    .unwrap();
    open("b-1".into(), at, body, "dpo", T0 + 60_000)
}

fn step(b: &mut Breach, state: &str, note: Option<&str>, at: Millis) -> Result<State, Invalid> {
    advance(
        b,
        StateChange {
            state: state.into(),
            note: note.map(Into::into),
            investigation: None,
            responsible_persons: None,
            measures: None,
            reference: None,
            high_risk: None,
        },
        "dpo2",
        at,
    )
}

#[test]
fn clocks_run_from_detection_24h_and_72h_under_152_fz_and_72h_under_gdpr() {
    let b = opened(&shop());
    let c = clocks(&b);
    let due: Vec<(&str, Millis)> = c.iter().map(|c| (c.id, c.due_at)).collect();
    assert_eq!(
        due,
        [
            ("fz152_24h", T0 + 24 * HOUR_MS),
            ("fz152_72h", T0 + 72 * HOUR_MS),
            ("gdpr_72h", T0 + 72 * HOUR_MS)
        ]
    );
    assert!(c.iter().all(|c| c.met_at.is_none() && !c.late));
    let v = b.to_json(T0 + 23 * HOUR_MS);
    assert_eq!(v["clocks"][0]["remaining_s"], 3600);
    assert_eq!(v["clocks"][0]["overdue"], false);
    let v = b.to_json(T0 + 25 * HOUR_MS);
    assert_eq!(v["clocks"][0]["remaining_s"], -3600);
    assert_eq!(v["clocks"][0]["overdue"], true);
    assert_eq!(v["clocks"][2]["overdue"], false);
}

#[test]
fn monitoring_sees_the_running_clocks_and_the_nearest_due_time() {
    let b = opened(&shop());
    let g = clock_gauges(std::slice::from_ref(&b), T0 + 23 * HOUR_MS);
    assert_eq!((g.running, g.overdue, g.next_due_s), (3, 0, Some(3600)));
    let g = clock_gauges(std::slice::from_ref(&b), T0 + 25 * HOUR_MS);
    assert_eq!((g.running, g.overdue, g.next_due_s), (3, 1, Some(-3600)));
    let mut closed = b.clone();
    closed.state = State::Closed;
    assert_eq!(clock_gauges(&[closed], T0), ClockGauges::default());
}

#[test]
fn only_the_declared_regimes_have_clocks() {
    let mut p = shop();
    p.controller.regimes = vec![Regime::Gdpr];
    let b = opened(&p);
    let ids: Vec<&str> = clocks(&b).iter().map(|c| c.id).collect();
    assert_eq!(ids, ["gdpr_72h"]);
    assert_eq!(
        notice::draft(&b, &p, NoticeKind::Fz152Initial, (T0, &LegalZone::moscow()))
            .unwrap_err()
            .code,
        "regime_not_applicable"
    );
}

#[test]
fn notifying_meets_the_clocks_and_late_is_recorded_as_late() {
    let mut b = opened(&shop());
    assert_eq!(
        step(&mut b, "notified-24h", None, T0 + 23 * HOUR_MS),
        Ok(State::Open)
    );
    assert_eq!(
        step(&mut b, "notified-72h", None, T0 + 73 * HOUR_MS),
        Ok(State::Notified24h)
    );
    let c = clocks(&b);
    assert_eq!((c[0].met_at, c[0].late), (Some(T0 + 23 * HOUR_MS), false));
    assert_eq!((c[1].met_at, c[1].late), (Some(T0 + 73 * HOUR_MS), true));
    assert!(c[2].late, "GDPR's 72 h passed too");
    let v = b.to_json(T0 + 100 * HOUR_MS);
    assert!(v["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["overdue"] == false));
    let h: Vec<(&str, &str)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["state"].as_str().unwrap(), s["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        h,
        [
            ("open", "dpo"),
            ("notified-24h", "dpo2"),
            ("notified-72h", "dpo2")
        ]
    );
}

#[test]
fn skipping_to_72h_meets_the_24h_clock_late_or_not_by_its_own_time() {
    let mut b = opened(&shop());
    step(&mut b, "notified-72h", None, T0 + 30 * HOUR_MS).unwrap();
    let c = clocks(&b);
    assert_eq!((c[0].met_at, c[0].late), (Some(T0 + 30 * HOUR_MS), true));
    assert!(!c[1].late && !c[2].late);
}

#[test]
fn states_only_move_forward_and_closing_needs_a_note() {
    let mut b = opened(&shop());
    step(&mut b, "notified-24h", None, T0 + HOUR_MS).unwrap();
    assert_eq!(
        step(&mut b, "open", None, T0 + 2 * HOUR_MS)
            .unwrap_err()
            .code,
        "invalid_transition"
    );
    assert_eq!(
        step(&mut b, "notified-24h", None, T0 + 2 * HOUR_MS)
            .unwrap_err()
            .code,
        "invalid_transition"
    );
    assert_eq!(
        step(&mut b, "archived", None, T0 + 2 * HOUR_MS)
            .unwrap_err()
            .code,
        "invalid_state"
    );
    assert_eq!(
        step(&mut b, "closed", Some("  "), T0 + 2 * HOUR_MS)
            .unwrap_err()
            .code,
        "note_required"
    );
    step(
        &mut b,
        "closed",
        Some("assessed: no risk to subjects"),
        T0 + 2 * HOUR_MS,
    )
    .unwrap();
    assert_eq!(
        step(&mut b, "closed", Some("again"), T0 + 3 * HOUR_MS)
            .unwrap_err()
            .code,
        "breach_closed"
    );
    let v = b.to_json(T0 + 100 * HOUR_MS);
    assert_eq!(
        v["clocks"][1]["met_at"],
        serde_json::Value::Null,
        "closing is not notifying"
    );
    assert_eq!(
        v["clocks"][1]["overdue"], false,
        "but a closed breach's clocks stop"
    );
}

#[test]
fn bad_breaches_are_refused_with_a_code() {
    let p = shop();
    let code = |v: serde_json::Value| validate(new_breach(v), &p, T0).unwrap_err().code;
    assert_eq!(
        code(json!({"categories": [], "description": "x"})),
        "categories_required"
    );
    assert_eq!(
        code(json!({"categories": ["dna"], "description": "x"})),
        "unknown_category"
    );
    assert_eq!(
        code(json!({"categories": ["contact"], "description": " "})),
        "description_required"
    );
    assert_eq!(
        code(json!({"categories": ["contact"], "description": "x", "detected_at": T0 + 3_600_000})),
        "invalid_time"
    );
    assert_eq!(
        code(json!({"categories": ["contact"], "description": "x", "detected_at": "yesterday"})),
        "invalid_time"
    );
    assert_eq!(
        code(
            json!({"categories": ["contact"], "description": "x", "window": {"from": T0, "until": T0 - 1}})
        ),
        "invalid_window"
    );
    assert_eq!(
        code(json!({"categories": ["contact"], "description": "x".repeat(MAX_TEXT + 1)})),
        "field_too_long"
    );
    let (at, body) = validate(
        new_breach(json!({"categories": ["identity", "contact", "contact"], "description": "x", "detected_at": "2026-05-28T10:00:00Z"})),
        &p,
        T0,
    )
    .unwrap();
    assert_eq!(body.categories, ["contact", "identity"]);
    assert_eq!(
        (body.window_from, body.window_until),
        (None, at),
        "window defaults to up to detection"
    );
}

/// A notice drafted for an operator in Moscow.
fn draft(b: &Breach, p: &Policy, kind: NoticeKind, now: Millis) -> serde_json::Value {
    notice::draft(b, p, kind, (now, &LegalZone::moscow())).unwrap()
}

#[test]
fn the_notice_reads_the_operators_clock() {
    let p = shop();
    let b = opened(&p);
    let n = draft(&b, &p, NoticeKind::Fz152Initial, T0);
    // 20:26 UTC on 28 May is 23:26 in Moscow: the form reads the operator's clock.
    let detected = &n["fields"][1]["value"];
    assert_eq!(detected, "2026-05-28 23:26 (Europe/Moscow, UTC+03:00)");
    assert_eq!(
        n["due_local"],
        "2026-05-29 23:26 (Europe/Moscow, UTC+03:00)"
    );
}

#[test]
fn notices_carry_what_each_law_asks_and_name_what_is_missing() {
    let p = shop();
    let mut b = opened(&p);
    b.body.estimate = Affected {
        subjects: 120,
        records: 340,
    };
    let n = draft(&b, &p, NoticeKind::Fz152Initial, T0);
    let keys: Vec<&str> = n["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "operator",
            "detected_at",
            "incident",
            "data",
            "causes",
            "harm",
            "measures",
            "contact"
        ]
    );
    // 20:26 UTC on 28 May is 23:26 in Moscow: the form reads the operator's clock.
    let detected = &n["fields"][1]["value"];
    assert_eq!(detected, "2026-05-28 23:26 (Europe/Moscow, UTC+03:00)");
    assert_eq!(
        n["due_local"],
        "2026-05-29 23:26 (Europe/Moscow, UTC+03:00)"
    );
    assert_eq!(n["missing"], json!(["causes", "harm", "measures"]));
    assert_eq!(n["due_at"], crate::rfc3339(T0 + 24 * HOUR_MS));
    assert_eq!(n["fields"][3]["value"]["estimate"]["subjects_approx"], 120);
    assert_eq!(n["fields"][7]["value"]["name"], "И. Иванов");

    let c = StateChange {
        state: "notified-24h".into(),
        note: None,
        investigation: Some("An engineer shared the export".into()),
        responsible_persons: None,
        measures: Some("Share removed, keys rotated".into()),
        reference: Some("RKN-2026-0001".into()),
        high_risk: None,
    };
    advance(&mut b, c.clone(), "dpo", T0 + HOUR_MS).unwrap();
    let n = draft(&b, &p, NoticeKind::Fz152FollowUp, T0 + 2 * HOUR_MS);
    assert_eq!(n["missing"], json!(["responsible_persons"]));
    assert_eq!(
        n["fields"][1]["value"]["references"],
        json!(["RKN-2026-0001"])
    );

    let g = draft(&b, &p, NoticeKind::Gdpr, T0 + 2 * HOUR_MS);
    let keys: Vec<&str> = g["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["nature", "dpo", "consequences", "measures"]);
    assert_eq!(g["fields"][0]["value"]["estimate"]["records_approx"], 340);
    assert_eq!(g["missing"], json!(["consequences"]));
    let late = draft(&b, &p, NoticeKind::Gdpr, T0 + 73 * HOUR_MS);
    assert_eq!(
        late["missing"],
        json!(["consequences", "delay"]),
        "Art. 33(1): reasons for delay"
    );

    let page = notice::html(&g);
    assert!(page.contains("Art. 33(3)(a)") && page.contains("[заполнить / to be completed]"));
    b.body.description = "<img src=x onerror=alert(1)>".into();
    let page = notice::html(&draft(&b, &p, NoticeKind::Gdpr, T0));
    assert!(!page.contains("<img") && page.contains("&lt;img"));
}

#[test]
fn kinds_from_query_parameters() {
    assert_eq!(
        NoticeKind::parse("fz152", Some("24h")),
        Ok(NoticeKind::Fz152Initial)
    );
    assert_eq!(
        NoticeKind::parse("fz152", Some("72h")),
        Ok(NoticeKind::Fz152FollowUp)
    );
    assert_eq!(NoticeKind::parse("gdpr", None), Ok(NoticeKind::Gdpr));
    assert_eq!(
        NoticeKind::parse("fz152", None).unwrap_err().code,
        "invalid_stage"
    );
    assert_eq!(
        NoticeKind::parse("ccpa", None).unwrap_err().code,
        "invalid_regime"
    );
}

#[test]
fn rows_round_trip() {
    let b = opened(&shop());
    assert_eq!(Breach::from_row(&b.to_row()).unwrap(), b);
}

fn sent(notice: &str, at: Millis) -> NoticeSent {
    serde_json::from_value(json!({"notice": notice, "sent_at": at, "reference": "NCCCI-1", "channel": "email", "recipients": 120})).unwrap()
}

#[test]
fn a_computer_incident_has_gossopka_clocks_met_by_the_notices_sent() {
    let p = shop();
    let mut b = incident(&p);
    let ids: Vec<(&str, Millis)> = clocks(&b).iter().map(|c| (c.id, c.due_at - T0)).collect();
    assert_eq!(
        ids,
        [
            ("fz152_24h", 24 * HOUR_MS),
            ("gossopka_24h", 24 * HOUR_MS),
            ("fz152_72h", 72 * HOUR_MS),
            ("gossopka_72h", 72 * HOUR_MS),
            ("gdpr_72h", 72 * HOUR_MS)
        ],
        "a computer incident unless said otherwise"
    );
    let mut at = |notice: &str, h: Millis| {
        let t = T0 + h * HOUR_MS;
        record_sent(&mut b, sent(notice, t), "dpo", t).map_err(|e| e.code)
    };
    assert_eq!(at("gossopka_24h", 2), Ok(false));
    assert_eq!(at("gossopka_72h", 80), Ok(true), "late");
    assert_eq!(at("gossopka_24h", 90), Err("already_recorded"));
    assert_eq!(at("fax", 90), Err("invalid_notice"));
    assert_eq!(
        at("subjects", -1),
        Err("invalid_time"),
        "before the detection"
    );
    let c = clocks(&b);
    let of = |id: &str| c.iter().find(|x| x.id == id).unwrap().clone();
    assert_eq!(of("gossopka_24h").met_at, Some(T0 + 2 * HOUR_MS));
    assert!(of("gossopka_72h").late);
    assert!(
        of("fz152_24h").met_at.is_none(),
        "Roskomnadzor is told apart"
    );
    let zone = LegalZone::moscow();
    let n = notice::draft(&b, &p, NoticeKind::GosSopkaInitial, (T0, &zone)).unwrap();
    assert_eq!(
        n["law"],
        "152-ФЗ ст. 19 ч. 12; приказ ФСБ России от 13.02.2023 № 77"
    );
    assert_eq!(n["fields"][0]["value"]["inn"], "7707083893");
    assert_eq!(n["due_at"], crate::rfc3339(T0 + 24 * HOUR_MS));
}

/// A breach opened without saying what kind: a computer incident.
fn incident(p: &Policy) -> Breach {
    let (at, body) = validate(
        new_breach(json!({"detected_at": T0, "categories": ["contact"], "description": "SQL injection on the shop", "causes": "unpatched plugin"})),
        p,
        T0,
    )
    .unwrap();
    open("b-2".into(), at, body, "dpo", T0)
}

#[test]
fn a_breach_that_is_not_a_computer_incident_asks_nothing_of_gossopka() {
    let p = shop();
    let mut paper = opened(&p);
    assert!(!clocks(&paper).iter().any(|c| c.id.starts_with("gossopka")));
    assert_eq!(
        notice::draft(
            &paper,
            &p,
            NoticeKind::GosSopkaInitial,
            (T0, &LegalZone::moscow())
        )
        .unwrap_err()
        .code,
        "not_a_computer_incident"
    );
    assert_eq!(
        record_sent(
            &mut paper,
            sent("gossopka_24h", T0 + HOUR_MS),
            "dpo",
            T0 + HOUR_MS
        )
        .unwrap_err()
        .code,
        "invalid_notice"
    );
}

#[test]
fn a_high_risk_breach_is_communicated_to_the_subjects_in_plain_language() {
    let p = shop();
    let mut b = opened(&p);
    let v = b.to_json(T0);
    assert_eq!(
        (
            v["subjects_notice"]["required"].as_bool(),
            v["subjects_notice"]["pending"].as_bool()
        ),
        (Some(false), Some(false))
    );
    // Assessed later as high risk: the communication is now due, without undue delay.
    let c: StateChange = serde_json::from_value(
        json!({"state": "notified-24h", "high_risk": true, "measures": "Share removed"}),
    )
    .unwrap();
    advance(&mut b, c, "dpo", T0 + HOUR_MS).unwrap();
    b.body.consequences = Some("Your e-mail address may receive phishing".into());
    b.body.advice = Some("Do not open links in messages that claim to be from us".into());
    let v = b.to_json(T0 + 2 * HOUR_MS);
    assert_eq!(v["subjects_notice"]["pending"], true);
    assert_eq!(v["subjects_notice"]["law"], "GDPR Art. 34(1)");
    let n = notice::draft(
        &b,
        &p,
        NoticeKind::GdprSubjects,
        (T0 + 2 * HOUR_MS, &LegalZone::moscow()),
    )
    .unwrap();
    assert_eq!(n["due_at"], Value::Null);
    assert_eq!(n["due_local"], "without undue delay");
    let labels: Vec<&str> = n["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "What happened",
            "What this may mean for you",
            "What we have done and are doing about it",
            "What you can do",
            "Who to contact"
        ]
    );
    assert!(
        n["fields"][0]["value"]
            .as_str()
            .unwrap()
            .contains("Contact details, Name"),
        "{n}"
    );
    assert_eq!(n["missing"], json!([]));
    assert!(notice::html(&n).contains("<html lang=\"en\""));
    assert_eq!(
        record_sent(
            &mut b,
            sent("subjects", T0 + 5 * HOUR_MS),
            "dpo",
            T0 + 5 * HOUR_MS
        ),
        Ok(false)
    );
    let v = b.to_json(T0 + 6 * HOUR_MS);
    assert_eq!(
        (
            v["subjects_notice"]["pending"].as_bool(),
            v["subjects_notice"]["recipients"].as_i64()
        ),
        (Some(false), Some(120))
    );
    assert_eq!(
        NoticeKind::parse("gdpr", Some("subjects")),
        Ok(NoticeKind::GdprSubjects)
    );
    assert_eq!(
        NoticeKind::parse("gossopka", Some("48h")).unwrap_err().code,
        "invalid_stage"
    );
}
