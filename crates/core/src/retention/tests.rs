use super::*;

fn policy() -> Policy {
    Policy::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap()
}

const DAY: Millis = 86_400_000;
const T0: Millis = 1_800_000_000_000;

fn value(id: i64, category: &str, purposes: &str) -> VaultValue {
    VaultValue {
        id,
        subject_id: b"s".to_vec().into(),
        token: format!("tok_{id}").into(),
        kind: "generic".into(),
        action: "tokenize".into(),
        category: Some(category.into()),
        field: "f".into(),
        purposes: purposes.into(),
        route: "checkout".into(),
        ciphertext: vec![],
        collected_at: T0,
        sealing: crate::crypto::Sealing::Category,
    }
}

fn record(purpose: &str, state: &str, at: Millis) -> ConsentRecord {
    ConsentRecord {
        receipt_id: "r".into(),
        subject_id: b"s".to_vec().into(),
        purpose: purpose.into(),
        text_id: String::new(),
        text_version: 1,
        text_sha256: String::new(),
        regimes: "fz152".into(),
        method: "checkbox".into(),
        route: "checkout".into(),
        at,
        ip_hash: None,
        ua_hash: None,
        origin: None,
        state: crate::records::ConsentStatus::parse(state).expect("a consent state"),
        channel: None,
        details: None,
    }
}

fn refs(records: &[ConsentRecord]) -> Vec<&ConsentRecord> {
    records.iter().collect()
}

#[test]
fn contract_data_lives_its_retention_from_collection() {
    let p = policy();
    let v = value(1, "contact", "order_fulfilment");
    let latest = HashMap::new();
    let c = cover(&p, &v, T0, &latest);
    // P3Y from collection.
    assert_eq!(
        c.purposes,
        Until::At(
            crate::policy::duration::IsoDuration::parse("P3Y")
                .unwrap()
                .after(T0)
        )
    );
    assert!(c.hold.is_none());
    assert_eq!(
        decide(&p, T0, None, &[&v], &[], T0 + 365 * DAY),
        Decision::Keep
    );
    assert_eq!(
        decide(&p, T0, None, &[&v], &[], T0 + 4 * 366 * DAY),
        Decision::Erase
    );
}

#[test]
fn withdrawal_ends_a_consent_purpose_at_once_but_not_another_basis() {
    let p = policy();
    let v = value(1, "contact", "order_fulfilment,marketing");
    let m = value(2, "identity", "marketing");
    let recs = [
        record("marketing", "granted", T0),
        record("marketing", "withdrawn", T0 + DAY),
    ];
    // The contact value stays for the contract; the marketing-only name goes.
    assert_eq!(
        decide(&p, T0, None, &[&v, &m], &refs(&recs), T0 + 2 * DAY),
        Decision::DropValues(vec![2])
    );
    // No grant at all: a consent purpose covers nothing.
    let only = value(3, "contact", "marketing");
    assert_eq!(
        decide(&p, T0, None, &[&only], &[], T0 + DAY),
        Decision::Erase
    );
    // Granted: P2Y from the consent.
    let recs = [record("marketing", "granted", T0 + 10 * DAY)];
    assert_eq!(
        decide(&p, T0, None, &[&only], &refs(&recs), T0 + 700 * DAY),
        Decision::Keep
    );
    assert_eq!(
        decide(&p, T0, None, &[&only], &refs(&recs), T0 + 750 * DAY),
        Decision::Erase
    );
}

#[test]
fn legal_hold_keeps_its_category_restricted_then_lets_go() {
    let p = policy();
    let card = value(1, "payment", "order_fulfilment");
    let email = value(2, "contact", "order_fulfilment");
    let after_purpose = T0 + 4 * 366 * DAY;
    let hold_end = crate::policy::duration::IsoDuration::parse("P5Y")
        .unwrap()
        .after(T0);
    assert_eq!(
        decide(&p, T0, None, &[&card, &email], &[], after_purpose),
        Decision::Hold {
            drop: vec![2],
            until: hold_end
        }
    );
    // Once held, the next sweep leaves it alone; after the hold it is erased.
    assert_eq!(
        decide(&p, T0, Some(hold_end), &[&card], &[], after_purpose),
        Decision::Keep
    );
    assert_eq!(
        decide(&p, T0, Some(hold_end), &[&card], &[], hold_end),
        Decision::Erase
    );
}

#[test]
fn an_objection_ends_the_purpose_for_the_subject() {
    let p = policy();
    let v = value(1, "contact", "marketing");
    let recs = [
        record("marketing", "granted", T0),
        record("marketing", "objected", T0 + DAY),
    ];
    assert_eq!(
        decide(&p, T0, None, &[&v], &refs(&recs), T0 + 2 * DAY),
        Decision::Erase
    );
    assert_eq!(
        purpose_until(&p, "marketing", T0, T0, &latest_records(&recs)),
        Until::At(T0 + DAY)
    );
}

#[test]
fn a_subject_with_nothing_recorded_keeps_its_key() {
    // Its data may be `encrypt` envelopes upstream whose purpose the vault cannot see.
    assert_eq!(
        decide(&policy(), T0, None, &[], &[], T0 + 10_000 * DAY),
        Decision::Keep
    );
}

/// A withdrawal starts a thirty-day clock (152-FZ Art. 21(5)): running while data only the
/// withdrawn purpose covered is stored, overdue after thirty days, met once it is gone; data
/// another basis covers does not hold it open, and consent given again stops it.
#[test]
fn a_withdrawal_starts_a_thirty_day_destruction_clock() {
    use crate::records::{SubjectRow, SubjectState};
    use clock::{clocks, ClockState};
    let p = policy();
    let subject = SubjectState {
        row: SubjectRow {
            id: b"s".to_vec().into(),
            wrapped_dek: vec![],
            kek_version: 1,
        },
        restricted_at: None,
        last_activity_at: T0,
    };
    let only_marketing = value(1, "contact", "marketing");
    let also_contract = value(2, "contact", "order_fulfilment,marketing");
    let withdrawn = T0 + 10 * DAY;
    let records = [
        record("marketing", "granted", T0),
        record("marketing", "withdrawn", withdrawn),
    ];
    let both = [&only_marketing, &also_contract];
    let at = |now: Millis, values: &[&VaultValue]| {
        let c = clocks(&p, &subject, values, &refs(&records), now);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].purpose.as_str(), c[0].record),
            ("marketing", "withdrawn")
        );
        assert_eq!(c[0].due_at, withdrawn + 30 * DAY);
        (c[0].state, c[0].values_left)
    };
    assert_eq!(at(withdrawn + DAY, &both), (ClockState::Running, 1));
    assert_eq!(at(withdrawn + 30 * DAY, &both), (ClockState::Overdue, 1));
    // The sweeper (or the DPO) destroyed the marketing-only value; the contract keeps the other.
    assert_eq!(
        at(withdrawn + 31 * DAY, &[&also_contract]),
        (ClockState::Met, 0)
    );
    // Consent given again: no clock.
    let again = [
        record("marketing", "granted", T0),
        record("marketing", "withdrawn", withdrawn),
        record("marketing", "granted", withdrawn + DAY),
    ];
    assert!(clocks(&p, &subject, &both, &refs(&again), withdrawn + 2 * DAY).is_empty());
}
