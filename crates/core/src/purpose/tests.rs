use super::*;
use crate::records::SubjectRow;

fn policy() -> Policy {
    Policy::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies"))
        .unwrap()
}

fn idx(p: &Policy, id: &str) -> usize {
    p.purposes.iter().position(|x| x.def.id == id).unwrap()
}

const DAY: Millis = 86_400_000;
const NOW: Millis = 1_800_000_000_000;

fn subject(restricted: bool) -> SubjectState {
    SubjectState {
        row: SubjectRow {
            id: b"s".to_vec().into(),
            wrapped_dek: vec![],
            kek_version: 1,
        },
        restricted_at: restricted.then_some(NOW - DAY),
        last_activity_at: NOW - DAY,
    }
}

fn consent(state: &str, at: Millis) -> ConsentState {
    ConsentState {
        subject_id: b"s".to_vec().into(),
        state: crate::records::ConsentStatus::parse(state).expect("a consent state"),
        at,
    }
}

fn value<'a>(category: Option<&'a str>, purposes: &'a str, at: Millis) -> Collected<'a> {
    Collected {
        category,
        purposes,
        at: Some(at),
    }
}

#[test]
fn contract_purpose_grants_what_it_collected_until_retention_ends() {
    let p = policy();
    let of = idx(&p, "order_fulfilment");
    let v = value(Some("contact"), "order_fulfilment,marketing", NOW - DAY);
    assert_eq!(check(&p, of, v, &subject(false), None, NOW), Ok(()));
    // Restriction wins over everything else.
    assert_eq!(
        check(&p, of, v, &subject(true), None, NOW),
        Err(Denial::Restricted)
    );
    // Collected under marketing only: the contract basis does not cover it.
    let v2 = value(Some("contact"), "marketing", NOW - DAY);
    assert_eq!(
        check(&p, of, v2, &subject(false), None, NOW),
        Err(Denial::NoLegalBasis)
    );
    // P3Y from collection.
    let old = value(Some("contact"), "order_fulfilment", NOW - 4 * 366 * DAY);
    assert_eq!(
        check(&p, of, old, &subject(false), None, NOW),
        Err(Denial::Expired)
    );
}

#[test]
fn category_must_belong_to_the_purpose() {
    let p = policy();
    let mk = idx(&p, "marketing");
    let v = value(Some("address"), "order_fulfilment,marketing", NOW - DAY);
    assert_eq!(
        check(
            &p,
            mk,
            v,
            &subject(false),
            Some(&consent("granted", NOW - DAY)),
            NOW
        ),
        Err(Denial::CategoryNotInPurpose)
    );
    // Uncategorised (redacted) values follow the purposes they were collected for.
    let free = value(None, "order_fulfilment", NOW - DAY);
    assert_eq!(
        check(
            &p,
            mk,
            free,
            &subject(false),
            Some(&consent("granted", NOW - DAY)),
            NOW
        ),
        Err(Denial::CategoryNotInPurpose)
    );
}

#[test]
fn consent_purposes_follow_the_ledger() {
    let p = policy();
    let mk = idx(&p, "marketing");
    let v = value(Some("contact"), "order_fulfilment", NOW - DAY);
    let s = subject(false);
    assert_eq!(
        check(&p, mk, v, &s, Some(&consent("granted", NOW - DAY)), NOW),
        Ok(()),
        "a live consent covers the category even if collected at checkout"
    );
    assert_eq!(
        check(&p, mk, v, &s, Some(&consent("withdrawn", NOW - 1)), NOW),
        Err(Denial::ConsentWithdrawn)
    );
    assert_eq!(check(&p, mk, v, &s, None, NOW), Err(Denial::NoLegalBasis));
    // P2Y from consent.
    assert_eq!(
        check(
            &p,
            mk,
            v,
            &s,
            Some(&consent("granted", NOW - 3 * 366 * DAY)),
            NOW
        ),
        Err(Denial::Expired)
    );
}

#[test]
fn services_are_checked_against_the_policy() {
    let p = policy();
    assert!(service_declared(&p, "crm", "marketing"));
    assert!(!service_declared(&p, "crm", "analytics"));
    assert!(!service_declared(&p, "mailer", "marketing"));
}

/// A `pdg2.` envelope carries its category and collection time, so retention and the category
/// rule reach values that live only in the upstream: one collected four years ago is past
/// `order_fulfilment`'s three, one collected yesterday opens.
#[test]
fn envelopes_are_held_to_retention_by_the_time_they_carry() {
    use crate::crypto::{Binding, Kek, RootSecret, Sealing, SubjectKeys};
    let p = policy();
    let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
    let (_, wrapped) = keys.new_dek(b"s");
    let sk = SubjectKeys::unwrap(&keys, b"s", &wrapped, &[]).unwrap();
    let envelope = |category: &str, at: Millis| {
        let b = Binding {
            subject: b"s",
            field: "name",
            purposes: "order_fulfilment",
            category: Some(category),
            collected_at: at,
            sealing: Sealing::Category,
        };
        Envelope {
            subject: b"s".to_vec(),
            field: "name".into(),
            purposes: "order_fulfilment".into(),
            category: Some(category.into()),
            collected_at: Some(at),
            sealed: sk.seal(b, "Иван".as_bytes()).unwrap(),
        }
        .encode()
    };
    let (fresh, old, other) = (
        envelope("identity", NOW - DAY),
        envelope("identity", NOW - 4 * 366 * DAY),
        envelope("correspondence", NOW - DAY),
    );
    let kept = [fresh.as_str(), old.as_str(), other.as_str()];
    let mut s = subject(false);
    s.row.wrapped_dek = wrapped.clone();
    let mut facts = Lookup {
        envelope_subjects: [(SubjectId::from(b"s".to_vec()), s)].into(),
        ..Lookup::default()
    };
    // The vault keeps each envelope's ciphertext; one it no longer keeps (rectified since, or
    // destroyed) stands for nothing.
    for t in kept {
        facts
            .envelope_copies
            .insert(Envelope::parse(t).unwrap().sealed);
    }
    let replaced = envelope("identity", NOW - DAY);
    let tokens = [kept[0], kept[1], kept[2], replaced.as_str()];
    let batch = Batch::parse(&tokens);
    let of = idx(&p, "order_fulfilment");
    let got: Vec<String> = resolve(&batch, &facts, &keys, &p, of, NOW)
        .into_iter()
        .map(|o| match o {
            Outcome::Granted(v) => v.to_string(),
            Outcome::Denied(d) => d.code().to_owned(),
        })
        .collect();
    assert_eq!(
        got,
        ["Иван", "expired", "category_not_in_purpose", "erased"]
    );
}
