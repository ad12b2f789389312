//! Storage conformance: the same behaviour checked on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

use pdgate::audit::{verify_chain, AuditEvent, Chain};
use pdgate::store::{
    Backend, Committer, ConsentRecord, ConsentStatus, IntakeOutcome, IntakeWrite, Store,
    SubjectWrite, ValueWrite,
};
use pdgate_testkit::Db;

/// A MAC made of one repeated byte, as the fixtures write them.
fn mac(byte: u8) -> pdgate::store::Mac {
    [byte; 32].into()
}

async fn open(db: Db) -> Option<(Store, pdgate_testkit::Scratch)> {
    open_at(db).await.map(|(store, _, tmp)| (store, tmp))
}

/// [`open`], with the database's URL for raw counts.
async fn open_at(db: Db) -> Option<(Store, String, pdgate_testkit::Scratch)> {
    let tmp = pdgate_testkit::scratch(db).await?;
    let url = tmp.url.clone();
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrations are idempotent");
    Some((store, url, tmp))
}

/// The erasure of the whole subject `[sid; 16]`.
fn whole_erasure(sid: u8, act_id: &str, reason: &str) -> pdgate::store::rights::Erase {
    pdgate::store::rights::Erase {
        subject_id: vec![sid; 16].into(),
        revision: 0,
        values: None,
        keep_categories: Vec::new(),
        hold_until: None,
        held_keys: Vec::new(),
        shred_data_key: false,
        audit: AuditEvent::Erasure {
            act_id: act_id.into(),
            reason: reason.into(),
            subject: pdgate::records::pseudonym(&vec![7u8; 16].into()),
            categories: Vec::new(),
            values: 1,
            whole_subject: true,
            held_categories: Vec::new(),
        },
    }
}

fn value(mac: u8, candidates: &[&str]) -> ValueWrite {
    ValueWrite {
        value_mac: [mac; 32].into(),
        candidates: candidates.iter().map(|c| (*c).into()).collect(),
        shape: "email".into(),
        kind: "email".into(),
        action: "tokenize".into(),
        category: Some("contact".into()),
        field: "email".into(),
        purposes: "order_fulfilment".into(),
        ciphertext: vec![mac, 1, 2, 3],
    }
}

/// The outcome of an intake committed with these tokens.
fn tokens(t: &[&str]) -> IntakeOutcome {
    IntakeOutcome::Committed(pdgate::store::Committed {
        tokens: t.iter().map(|s| (*s).into()).collect(),
    })
}

fn new_subject(id: u8, key: Option<u8>) -> SubjectWrite {
    SubjectWrite::New {
        id: vec![id; 16].into(),
        key: key.map(|k| [k; 32].into()),
        wrapped_dek: vec![9; 60],
        kek_version: 1,
    }
}

fn intake(subject: SubjectWrite, values: Vec<ValueWrite>) -> IntakeWrite {
    let sid = subject.id().to_vec();
    IntakeWrite {
        at: 1_700_000_000_000,
        route: "checkout".into(),
        subject: Some(subject),
        index: vec![mac(7)],
        values,
        consents: vec![ConsentRecord {
            receipt_id: format!("r-{}", sid[0]),
            subject_id: sid.into(),
            purpose: "marketing".into(),
            text_id: "consents/marketing.md".into(),
            text_version: 2,
            text_sha256: "ab".repeat(32),
            regimes: "fz152,gdpr".into(),
            method: "checkbox".into(),
            route: "checkout".into(),
            at: 1_700_000_000_000,
            ip_hash: Some(vec![1; 32]),
            ua_hash: None,
            origin: Some("https://shop.example".into()),
            state: ConsentStatus::Granted,
            channel: None,
            details: Some(r#"{"guardian":{"fields":["parent_name"]}}"#.into()),
        }],
        dropped_fields: 2,
        audit: vec![AuditEvent::ChainStarted {
            version: "t".into(),
            policy_sha256: "x".into(),
            seen: Vec::new(),
        }],
    }
}

async fn root_secret_is_stored_once(db: Db) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let first = store.root_secret((1, vec![1, 2, 3])).await.unwrap();
    let second = store.root_secret((1, vec![4, 5, 6])).await.unwrap();
    assert_eq!(first, (1, vec![1, 2, 3]));
    assert_eq!(second, first, "a second start never replaces the key ring");
}

async fn intake_commits_subject_values_consents_counters_and_audit(db: Db) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let out = store
        .commit_batch(
            &[intake(
                new_subject(1, Some(1)),
                vec![value(10, &["t-a@r", "t-b@r"])],
            )],
            &mut chain,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![IntakeOutcome::Committed(pdgate::store::Committed {
            tokens: vec!["t-a@r".into()]
        })]
    );
    let found = store.find_subject(&mac(1)).await.unwrap().unwrap();
    assert_eq!(
        (found.row.id.clone(), found.row.kek_version),
        (vec![1u8; 16].into(), 1)
    );
    assert_eq!(
        store.subjects_by_index(&mac(7)).await.unwrap(),
        vec![vec![1u8; 16]]
    );
    let v = store.value_by_token("t-a@r").await.unwrap();
    assert_eq!(
        (v.len(), v[0].ciphertext.clone(), v[0].field.as_str()),
        (1, vec![10, 1, 2, 3], "email")
    );
    assert_eq!(store.consents_of(&[1; 16]).await.unwrap().len(), 1);
    assert_eq!(store.counter("checkout", "intakes").await.unwrap(), 1);
    assert_eq!(
        store.counter("checkout", "dropped_fields").await.unwrap(),
        2
    );
    let rows = store.audit_rows("w1").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(verify_chain(&rows), Ok(()));
}

async fn the_same_value_keeps_its_token_and_collisions_take_the_next_candidate(db: Db) {
    for per_intake in [false, true] {
        tokens_follow_their_candidates(db, per_intake).await;
    }
}

/// A value's token is found among its candidates (there is no index by value MAC); `per_intake`
/// runs the savepoint path a raced batch falls back to, which must decide the same.
async fn tokens_follow_their_candidates(db: Db, per_intake: bool) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let existing = |id: u8, values| IntakeWrite {
        subject: Some(SubjectWrite::Existing {
            id: vec![id; 16].into(),
        }),
        ..intake(new_subject(id, None), values)
    };
    let mut commit = async |w: IntakeWrite| {
        let batch = [w];
        let out = if per_intake {
            store.commit_each(&batch, &mut chain).await
        } else {
            store.commit_batch(&batch, &mut chain).await
        };
        out.unwrap().remove(0)
    };
    let first = intake(
        new_subject(1, Some(1)),
        vec![value(10, &["tok_a", "tok_b"])],
    );
    assert_eq!(commit(first).await, tokens(&["tok_a"]));
    // The same value again: its stored token wins over a free candidate before it.
    let again = existing(1, vec![value(10, &["tok_x", "tok_a"])]);
    assert_eq!(commit(again).await, tokens(&["tok_a"]));
    // Another subject's value whose first candidate is taken gets the second.
    let second = intake(
        new_subject(2, Some(2)),
        vec![value(11, &["tok_a", "tok_c"])],
    );
    assert_eq!(commit(second).await, tokens(&["tok_c"]));
    let third = intake(
        new_subject(3, Some(3)),
        vec![value(12, &["tok_a", "tok_c"])],
    );
    assert_eq!(commit(third).await, IntakeOutcome::TokenSpaceExhausted);
    assert!(
        store.subject(&[3; 16]).await.unwrap().is_none(),
        "a refused intake leaves nothing behind"
    );
    // An erased token stays a tombstone: never issued again, and a value behind it keeps its own.
    assert!(store
        .erase_subject(&[1; 16], 1_700_000_000_001)
        .await
        .unwrap());
    assert_eq!(
        store.erased_tokens(&["tok_a", "tok_c"]).await.unwrap(),
        ["tok_a"]
    );
    let later = existing(2, vec![value(11, &["tok_a", "tok_c"])]);
    assert_eq!(commit(later).await, tokens(&["tok_c"]));
    let fourth = intake(
        new_subject(4, Some(4)),
        vec![value(13, &["tok_a", "tok_d"])],
    );
    assert_eq!(commit(fourth).await, tokens(&["tok_d"]));
    assert!(store.value_by_token("tok_a").await.unwrap().is_empty());
    let held = store.value_by_token("tok_c").await.unwrap();
    assert_eq!(held.len(), 2, "both collections of the value, by its token");
    assert!(held.iter().all(|v| v.subject_id == [2; 16]));
}

/// A vault made before the token-path migration (`20261130000001`) upgrades in place: live tokens
/// keep their values, erased ones become tombstones, and intakes decide on the new paths.
async fn an_older_vault_upgrades_in_place(db: Db) {
    let Some(tmp) = pdgate_testkit::scratch(db).await else {
        return;
    };
    let url = tmp.url.clone();
    let backend = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    let older = tmp.path().join("older");
    std::fs::create_dir(&older).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for f in std::fs::read_dir(all).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().as_ref() < "20261130000001" {
            std::fs::copy(f.path(), older.join(f.file_name())).unwrap();
        }
    }
    let older = sqlx::migrate::Migrator::new(older).await.unwrap();
    macro_rules! seed {
        ($pool:expr) => {{
            let pool = $pool;
            older.run(&pool).await.unwrap();
            sqlx::query("INSERT INTO subjects (id, wrapped_dek, kek_version, created_at, last_activity_at) VALUES ($1, $2, 1, 0, 0)")
                .bind(vec![1u8; 16])
                .bind(vec![9u8; 60])
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO tokens (token, value_mac, subject_id, shape, created_at) VALUES ('tok_live', $1, $2, 'email', 0)")
                .bind(vec![10u8; 32])
                .bind(vec![1u8; 16])
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO vault_values (subject_id, value_mac, token, kind, action, field, purposes, route, ciphertext, collected_at) \
                 VALUES ($1, $2, 'tok_live', 'email', 'tokenize', 'email', 'order_fulfilment', 'checkout', $3, 0)",
            )
            .bind(vec![1u8; 16])
            .bind(vec![10u8; 32])
            .bind(vec![10u8, 1, 2, 3])
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO erased_tokens (token, erased_at) VALUES ('tok_gone', 5)")
                .execute(&pool)
                .await
                .unwrap();
            // Acts of the one-subject shape: a sweep's (found by its reference) and a request's.
            for (id, request, reference) in [("act_1", None, "sweep:swp_old"), ("act_2", Some("req_old"), "req_old")] {
                sqlx::query("INSERT INTO destruction_acts (id, request_id, subject_id, at, keep_until, act) VALUES ($1, $2, $3, 5, 10, $4)")
                    .bind(id)
                    .bind(request)
                    .bind(vec![2u8; 16])
                    .bind(serde_json::json!({"act_id": id, "reference": reference}).to_string())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }};
    }
    match db {
        Db::Sqlite => {
            use std::str::FromStr;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            seed!(sqlx::SqlitePool::connect_with(opts).await.unwrap());
        }
        Db::Postgres => seed!(sqlx::PgPool::connect(&url).await.unwrap()),
    }

    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let live = store.value_by_token("tok_live").await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].subject_id, [1; 16]);
    // Sealed before category keys: under the data key itself, which a hold must then keep.
    assert_eq!(live[0].sealing, pdgate::crypto::Sealing::Subject);
    assert_eq!(
        store
            .erased_tokens(&["tok_gone", "tok_live"])
            .await
            .unwrap(),
        ["tok_gone"]
    );
    let mut chain = Chain::new("w1");
    let again = IntakeWrite {
        subject: Some(SubjectWrite::Existing { id: [1; 16].into() }),
        ..intake(new_subject(1, None), vec![value(10, &["tok_live"])])
    };
    let fresh = intake(
        new_subject(2, Some(2)),
        vec![value(11, &["tok_gone", "tok_new"])],
    );
    let out = store
        .commit_batch(&[again, fresh], &mut chain)
        .await
        .unwrap();
    assert_eq!(out, [tokens(&["tok_live"]), tokens(&["tok_new"])]);
    let fresh = store.value_by_token("tok_new").await.unwrap();
    assert_eq!(fresh[0].sealing, pdgate::crypto::Sealing::Category);
    let ks = pdgate::store::Rights::key_states(&store, &[&[1u8; 16][..], &[2u8; 16][..]])
        .await
        .unwrap();
    let seals: Vec<(Vec<u8>, bool)> = ks
        .iter()
        .map(|k| (k.subject_id.as_bytes().to_vec(), k.seals_data))
        .collect();
    assert_eq!(seals, [(vec![1; 16], true), (vec![2; 16], false)]);
    // Earlier acts are found by their sweep or request.
    use pdgate::store::Rights;
    let swept = store.acts_of_sweep("swp_old", None, 10).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].0, "act_1");
    assert_eq!(store.acts_of("req_old").await.unwrap().len(), 1);
}

/// A row count straight from the database, for what no read path shows (entries left to purge).
/// Blob literals are written `X'…'` and rewritten for PostgreSQL.
async fn count(db: Db, url: &str, sql: &str) -> i64 {
    let sql = if db == Db::Postgres {
        sql.replace("X'", "'\\x")
    } else {
        sql.to_owned()
    };
    let sql = sql.as_str();
    match db {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

async fn a_swept_subject_is_gone_before_its_entries_are_purged(db: Db) {
    for (per_intake, in_key_order) in [(false, true), (true, false)] {
        deferred_purge(db, per_intake, in_key_order).await;
    }
}

/// The sweeper erases a subject and, where the backend defers it (SQLite), leaves its tokens, key
/// and search-index entries to a later purge: in between, every read path already treats them as
/// gone, a new intake of the same key takes the key over, and the purge (walking the tables in key
/// order, or subject by subject) leaves the new owner's entries alone. PostgreSQL purges them with
/// the subject, so its readers need not check for leftovers, and its purge finds nothing to do.
async fn deferred_purge(db: Db, per_intake: bool, in_key_order: bool) {
    use pdgate::store::rights::{PurgeStep, PurgeTable};
    use pdgate::store::{Change, Rights};
    let Some((store, url, _tmp)) = open_at(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let first = intake(
        new_subject(1, Some(1)),
        vec![value(10, &["tok_a", "tok_b"])],
    );
    let other = intake(new_subject(2, Some(2)), vec![value(11, &["tok_c"])]);
    let out = store
        .commit_batch(&[first, other], &mut chain)
        .await
        .unwrap();
    assert_eq!(out, [tokens(&["tok_a"]), tokens(&["tok_c"])]);
    let erase = whole_erasure(1, "act-1", "sweep:swp_t");
    let change = Change {
        at: 1_700_000_000_001,
        erase: vec![erase],
        defer_purge: true,
        ..Change::default()
    };
    store.apply_change(&change, &mut chain).await.unwrap();
    let deferred = store.defers_purge();
    assert_eq!(deferred, db == Db::Sqlite);
    assert_eq!(store.purge_pending().await.unwrap(), u64::from(deferred));
    let left = "SELECT count(*) FROM subject_index WHERE subject_id IN (SELECT subject_id FROM purge_pending) \
                OR subject_id = X'01010101010101010101010101010101'";
    assert_eq!(
        count(db, &url, left).await,
        i64::from(deferred),
        "the entry waits for the purge where the backend defers it"
    );

    // Gone for every reader already.
    assert!(store.subject(&[1; 16]).await.unwrap().is_none());
    assert!(store.find_subject(&mac(1)).await.unwrap().is_none());
    assert_eq!(
        store.subjects_by_index(&mac(7)).await.unwrap(),
        [vec![2u8; 16]]
    );
    assert!(store.value_by_token("tok_a").await.unwrap().is_empty());
    assert_eq!(
        store.erased_tokens(&["tok_a", "tok_c"]).await.unwrap(),
        ["tok_a"]
    );
    // The same person again: a new subject takes the key over, and the erased token stays unissued.
    let back = [intake(
        new_subject(5, Some(1)),
        vec![value(10, &["tok_a", "tok_e"])],
    )];
    let out = if per_intake {
        store.commit_each(&back, &mut chain).await
    } else {
        store.commit_batch(&back, &mut chain).await
    };
    assert_eq!(out.unwrap(), [tokens(&["tok_e"])]);
    assert_eq!(
        store.find_subject(&mac(1)).await.unwrap().unwrap().row.id,
        [5; 16]
    );

    // The purge removes the erased subject's entries and nothing else.
    let at = 1_700_000_000_002;
    if in_key_order {
        for table in PurgeTable::ALL {
            let mut after = None;
            loop {
                // One entry a step, so that every step boundary is crossed.
                let step = PurgeStep::Range {
                    table,
                    after,
                    rows: 1,
                };
                let p = store.purge_step(&step, at).await.unwrap();
                if p.done {
                    break;
                }
                after = p.next;
            }
        }
        let p = store
            .purge_step(&PurgeStep::Finish { limit: 10 }, at)
            .await
            .unwrap();
        assert!(p.done);
    } else {
        let p = store
            .purge_step(&PurgeStep::Subjects { limit: 10 }, at)
            .await
            .unwrap();
        assert_eq!((p.purged, p.done), (u64::from(deferred), true));
    }
    assert_eq!(store.purge_pending().await.unwrap(), 0);
    let left = "SELECT (SELECT count(*) FROM subject_keys WHERE subject_id = X'01010101010101010101010101010101') \
                + (SELECT count(*) FROM subject_index WHERE subject_id = X'01010101010101010101010101010101') \
                + (SELECT count(*) FROM subject_macs WHERE subject_id = X'01010101010101010101010101010101') \
                + (SELECT count(*) FROM tokens WHERE subject_id = X'01010101010101010101010101010101') \
                + (SELECT count(*) FROM tokens WHERE token = 'tok_a' AND erased_at IS NULL)";
    assert_eq!(
        count(db, &url, left).await,
        0,
        "nothing of subject 1 is left"
    );
    assert_eq!(
        store.find_subject(&mac(1)).await.unwrap().unwrap().row.id,
        [5; 16],
        "the new owner keeps the key"
    );
    let mut by_index = store.subjects_by_index(&mac(7)).await.unwrap();
    by_index.sort();
    assert_eq!(by_index, [vec![2u8; 16], vec![5u8; 16]]);
    assert_eq!(
        store
            .erased_tokens(&["tok_a", "tok_c", "tok_e"])
            .await
            .unwrap(),
        ["tok_a"]
    );
    assert_eq!(store.value_by_token("tok_c").await.unwrap().len(), 1);
    assert_eq!(store.value_by_token("tok_e").await.unwrap().len(), 1);
}

async fn a_failing_intake_rolls_back_alone_and_the_chain_stays_whole(db: Db) {
    for per_intake in [false, true] {
        failing_intake_rolls_back_alone(db, per_intake).await;
    }
}

/// `per_intake`: the savepoint path a batch falls back to when another replica raced it.
async fn failing_intake_rolls_back_alone(db: Db, per_intake: bool) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let batch = [
        intake(new_subject(1, Some(1)), vec![value(10, &["tok_1"])]),
        intake(new_subject(2, Some(1)), vec![value(11, &["tok_2"])]), // same subject key: lost the race
        intake(new_subject(3, Some(3)), vec![value(12, &["tok_3"])]),
    ];
    let out = if per_intake {
        store.commit_each(&batch, &mut chain).await
    } else {
        store.commit_batch(&batch, &mut chain).await
    }
    .unwrap();
    assert!(matches!(out[0], IntakeOutcome::Committed(_)));
    assert_eq!(out[1], IntakeOutcome::SubjectRace);
    assert!(matches!(out[2], IntakeOutcome::Committed(_)));
    assert!(store.subject(&[2; 16]).await.unwrap().is_none());
    assert!(store.value_by_token("tok_2").await.unwrap().is_empty());
    assert_eq!(store.counter("checkout", "intakes").await.unwrap(), 2);
    let rows = store.audit_rows("w1").await.unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the rolled-back intake's audit entry is gone"
    );
    assert_eq!(verify_chain(&rows), Ok(()), "and the chain has no gap");
    // An existing subject that vanished (erased meanwhile) is a race too.
    let gone = IntakeWrite {
        subject: Some(SubjectWrite::Existing {
            id: [99; 16].into(),
        }),
        ..intake(new_subject(99, None), vec![])
    };
    assert_eq!(
        store.commit_batch(&[gone], &mut chain).await.unwrap()[0],
        IntakeOutcome::SubjectRace
    );
}

async fn group_commit_serves_concurrent_intakes(db: Db) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let committer = Committer::start(store.clone(), Chain::new("w-group"), None).0;
    let mut tasks = Vec::new();
    for i in 0..64u8 {
        let c = committer.clone();
        tasks.push(tokio::spawn(async move {
            c.commit(intake(
                new_subject(i, Some(i)),
                vec![value(i, &[&format!("tok_{i}")])],
            ))
            .await
        }));
    }
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap(),
            IntakeOutcome::Committed(_)
        ));
    }
    let rows = store.audit_rows("w-group").await.unwrap();
    assert_eq!(rows.len(), 64);
    assert_eq!(verify_chain(&rows), Ok(()));
}

async fn restriction_erasure_consent_states_texts_and_audit_pages(db: Db) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w-ledger");
    let a = intake(new_subject(1, Some(1)), vec![value(1, &["t-a@x"])]);
    let b = intake(new_subject(2, Some(2)), vec![value(2, &["t-b@x"])]);
    store.commit_batch(&[a, b], &mut chain).await.unwrap();
    let (ida, idb) = (vec![1u8; 16], vec![2u8; 16]);

    // One query returns values with their subject's state; restriction shows there.
    assert!(store.set_restricted(&ida, Some(5)).await.unwrap());
    let rows = store
        .values_with_subjects(&["t-a@x", "t-b@x", "nope"], "marketing")
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let restricted: Vec<Option<i64>> = rows.iter().map(|r| r.subject.restricted_at).collect();
    assert_eq!(restricted, [Some(5), None]);
    // The intake's look-up by blind index sees it too (the gateway refuses a restricted subject).
    let found = store.find_subject(&mac(1)).await.unwrap().unwrap();
    assert_eq!(found.restricted_at, Some(5));
    assert!(rows
        .iter()
        .all(|r| r.consent.as_ref().unwrap().state == ConsentStatus::Granted));
    assert!(!store.set_restricted(&[9; 16], Some(5)).await.unwrap());

    // Consent state is the newest record; a withdrawal appends.
    let mut w = intake(
        SubjectWrite::Existing {
            id: ida.clone().into(),
        },
        vec![],
    );
    w.consents[0].state = ConsentStatus::Withdrawn;
    w.consents[0].at = 1_700_000_000_500;
    w.at = 1_700_000_000_500;
    store.commit_batch(&[w], &mut chain).await.unwrap();
    let states = store
        .consent_states(&[&ida, &idb], "marketing")
        .await
        .unwrap();
    let find = |id: &[u8]| states.iter().find(|c| c.subject_id == *id).unwrap().state;
    assert_eq!(
        (find(&ida), find(&idb)),
        (ConsentStatus::Withdrawn, ConsentStatus::Granted)
    );
    assert!(store
        .consent_states(&[&ida], "other")
        .await
        .unwrap()
        .is_empty());
    let rows = store
        .values_with_subjects(&["t-a@x"], "marketing")
        .await
        .unwrap();
    assert_eq!(
        rows[0].consent.as_ref().unwrap().state,
        ConsentStatus::Withdrawn
    );
    let rows = store
        .values_with_subjects(&["t-a@x"], "other")
        .await
        .unwrap();
    assert!(rows[0].consent.is_none());
    let by_receipt = store.consents_by_receipt("r-1").await.unwrap();
    assert_eq!(by_receipt.len(), 2);
    assert_eq!(
        by_receipt[0].details.as_deref(),
        Some(r#"{"guardian":{"fields":["parent_name"]}}"#),
        "what a consent keeps beside the grant reads back"
    );

    // Erasure: values and keys go, tombstones answer for the tokens and the subject.
    assert!(store.erase_subject(&ida, 9).await.unwrap());
    assert!(!store.erase_subject(&ida, 9).await.unwrap());
    assert!(store.subject(&ida).await.unwrap().is_none());
    assert!(store.values_of(&ida).await.unwrap().is_empty());
    assert_eq!(
        store
            .values_with_subjects(&["t-a@x"], "marketing")
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store.erased_tokens(&["t-a@x", "t-b@x"]).await.unwrap(),
        ["t-a@x"]
    );
    assert_eq!(
        store.erased_subjects(&[&ida, &idb]).await.unwrap(),
        std::slice::from_ref(&ida)
    );
    assert_eq!(
        store.consents_of(&ida).await.unwrap().len(),
        2,
        "consent proof outlives erasure (pseudonymous)"
    );

    // Consent texts: the first hash registered for a version stays.
    assert_eq!(
        store
            .register_consent_text("c.md", 1, "h1", "text", 1)
            .await
            .unwrap(),
        "h1"
    );
    assert_eq!(
        store
            .register_consent_text("c.md", 1, "h2", "edited", 2)
            .await
            .unwrap(),
        "h1"
    );
    assert_eq!(
        store.consent_text("c.md", 1).await.unwrap(),
        Some(("h1".to_owned(), "text".to_owned()))
    );
    assert_eq!(store.consent_text("c.md", 2).await.unwrap(), None);

    // Audit pages: by writer and sequence, windowed by time, resumable.
    let all = store.audit_page(None, None, None, 1000).await.unwrap();
    assert_eq!(all.len(), 3);
    let first = store.audit_page(None, None, None, 2).await.unwrap();
    let rest = store
        .audit_page(None, None, Some((&first[1].writer, first[1].seq)), 2)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 3);
    assert_eq!(rest[0].seq, 3);
    let late = store
        .audit_page(Some(1_700_000_000_400), None, None, 1000)
        .await
        .unwrap();
    assert_eq!(late.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
}

/// The oversight reads on two intakes, in four steps: figures and consent trend, affected counts
/// for a breach, breaches and notifications with their optimistic checks, discovered flows.
async fn oversight_figures_breaches_notifications_and_flows(db: Db) {
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w-ov");
    let batch = [
        intake(new_subject(1, Some(1)), vec![value(1, &["t1"])]),
        intake(new_subject(2, Some(2)), vec![value(2, &["t2"])]),
    ];
    store.commit_batch(&batch, &mut chain).await.unwrap();
    // The ring written after the subjects: under version 3 first, the database would refuse
    // keys the fixture wraps under version 1.
    store.root_secret((3, vec![1, 2, 3])).await.unwrap();
    let at = 1_700_000_000_000;

    figures_and_trend(&store, at).await;
    affected_counts(&store, at).await;
    breaches_and_notifications(&store, at).await;
    flows_fold_by_method_and_path(&store, at).await;
}

/// The register's figures and the consent trend after two intakes at `at`.
async fn figures_and_trend(store: &Store, at: i64) {
    use pdgate::store::oversight::Count;
    use pdgate::store::Oversight;
    let f = store
        .figures(&["order_fulfilment", "marketing"], at)
        .await
        .unwrap();
    assert_eq!(f.subjects, 2);
    let c = |k: &str, n: i64| Count { key: k.into(), n };
    assert_eq!(f.values_by_category, [c("contact", 2)]);
    assert_eq!(
        f.subjects_by_purpose,
        [c("order_fulfilment", 2), c("marketing", 0)]
    );
    assert_eq!(f.consents, [c("marketing/granted", 2)]);
    assert!(f.requests.is_empty());
    assert_eq!(f.first_entry_at, Some(at));
    assert_eq!(f.kek_version, 3);
    assert!(f.keyring_at.is_some());

    let trend = store.consent_trend(at - 1).await.unwrap();
    assert_eq!(trend.len(), 1);
    assert_eq!(
        (
            trend[0].slot,
            trend[0].purpose.as_str(),
            trend[0].state.as_str(),
            trend[0].n
        ),
        (at / 900_000 * 900_000, "marketing", "granted", 2)
    );
    assert!(store.consent_trend(at + 1).await.unwrap().is_empty());
}

/// How many subjects and records a breach of some categories in a window touches.
async fn affected_counts(store: &Store, at: i64) {
    use pdgate::store::oversight::Affected;
    use pdgate::store::Oversight;
    let contact = ["contact".to_owned()];
    let hit = |subjects, records| Affected { subjects, records };
    assert_eq!(
        store
            .affected(Some(&contact), Some(at - 1), at)
            .await
            .unwrap(),
        hit(2, 2)
    );
    assert_eq!(store.affected(None, None, at).await.unwrap(), hit(2, 2));
    assert_eq!(
        store
            .affected(Some(&contact), Some(at + 1), at + 5)
            .await
            .unwrap(),
        hit(0, 0)
    );
    assert_eq!(
        store.affected(Some(&contact), None, at - 1).await.unwrap(),
        hit(0, 0)
    );
    assert_eq!(
        store
            .affected(Some(&["identity".to_owned()]), None, at)
            .await
            .unwrap(),
        hit(0, 0)
    );
    assert_eq!(
        store.affected(Some(&[]), None, at).await.unwrap(),
        hit(0, 0)
    );
}

/// Breaches and notifications through the committer: a stale writer and a second withdrawal lose
/// and write nothing.
async fn breaches_and_notifications(store: &Store, at: i64) {
    use pdgate::store::oversight::{BreachRow, NotificationRow};
    use pdgate::store::{Change, Oversight};
    let committer = Committer::start(store.clone(), Chain::new("w-ov2"), None).0;
    let breach = |id: &str, detected: i64, state: &str| BreachRow {
        id: id.into(),
        detected_at: detected,
        opened_at: detected + 10,
        opened_by: "dpo".into(),
        state: state.into(),
        body: "{}".into(),
        history: "[]".into(),
        updated_at: detected + 10,
        expected_updated_at: None,
    };
    let note = |id: &str, withdrawn: Option<i64>| NotificationRow {
        id: id.into(),
        country: "US".into(),
        purpose: "marketing".into(),
        filed_at: at,
        received_at: None,
        reference: Some("RKN-1".into()),
        recorded_by: "dpo".into(),
        recorded_at: at,
        withdrawn_at: withdrawn,
    };
    let received = |withdrawn: Option<i64>| NotificationRow {
        received_at: Some(at + 3),
        ..note("n1", withdrawn)
    };
    committer
        .apply(Change {
            at,
            breaches: vec![breach("b1", at, "open"), breach("b2", at + 5, "open")],
            notifications: vec![note("n1", None)],
            ..Change::default()
        })
        .await
        .unwrap();
    // Roskomnadzor's receipt, recorded later on the same notification.
    let receipt = Change {
        at,
        notifications: vec![received(None)],
        ..Change::default()
    };
    committer.apply(receipt).await.unwrap();
    assert_eq!(store.notifications().await.unwrap(), [received(None)]);
    let mut moved = breach("b1", at, "closed");
    moved.history = "[1]".into();
    moved.updated_at = at + 99;
    moved.expected_updated_at = Some(at + 10);
    committer
        .apply(Change {
            at,
            breaches: vec![moved.clone()],
            notifications: vec![note("n1", Some(at + 7))],
            ..Change::default()
        })
        .await
        .unwrap();
    // A second writer that read the breach before that change loses, and writes nothing at all.
    let mut stale = breach("b1", at, "notified-24h");
    stale.expected_updated_at = Some(at + 10);
    let err = committer
        .apply(Change {
            at,
            breaches: vec![stale],
            notifications: vec![note("n2", None)],
            ..Change::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, pdgate::store::StoreError::Conflict(_)),
        "{err}"
    );
    let err = committer
        .apply(Change {
            at,
            notifications: vec![note("n1", Some(at + 8))],
            ..Change::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, pdgate::store::StoreError::Conflict(_)),
        "withdrawn twice: {err}"
    );
    let late = Change {
        at,
        notifications: vec![received(None)],
        ..Change::default()
    };
    let err = committer.apply(late).await.unwrap_err();
    assert!(
        matches!(err, pdgate::store::StoreError::Conflict(_)),
        "a withdrawn notification takes no receipt: {err}"
    );
    moved.expected_updated_at = None;
    assert_eq!(store.breach("b1").await.unwrap(), Some(moved));
    assert_eq!(store.breach("nope").await.unwrap(), None);
    let ids: Vec<String> = store
        .breaches(10)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, ["b2", "b1"], "latest detection first");
    assert_eq!(
        store.notifications().await.unwrap(),
        [received(Some(at + 7))]
    );
}

/// Discovered flows fold by method and path, counting and widening their kinds.
async fn flows_fold_by_method_and_path(store: &Store, at: i64) {
    use pdgate::store::Oversight;
    store
        .record_flow("POST", "/feedback", &["phone".into()], 1, at)
        .await
        .unwrap();
    store
        .record_flow(
            "POST",
            "/feedback",
            &["email".into(), "phone".into()],
            2,
            at + 9,
        )
        .await
        .unwrap();
    store
        .record_flow("PUT", "/profile", &["inn".into()], 1, at + 5)
        .await
        .unwrap();
    let flows = store.flows(10).await.unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(
        (
            flows[0].path.as_str(),
            flows[0].kinds.clone(),
            flows[0].count,
            flows[0].first_seen,
            flows[0].last_seen
        ),
        (
            "/feedback",
            vec!["email".to_owned(), "phone".to_owned()],
            3,
            at,
            at + 9
        )
    );
}

/// Write transactions from several connections at once (the writer task, discovery's flow
/// counts, the outbox) wait for each other: none fails with "database is locked", none loses
/// another's update.
async fn concurrent_writers_wait_for_each_other(db: Db) {
    use pdgate::store::Oversight;
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let (committer, _task) = Committer::start(store.clone(), Chain::new("w"), None);
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                store
                    .record_flow("POST", "/c", &[format!("k{t}")], 1, 1_000 + i)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in 0..4u8 {
        let committer = committer.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10u8 {
                let n = 100 + t * 10 + i;
                let tok = format!("tok{n}");
                let w = intake(new_subject(n, Some(n)), vec![value(n, &[&tok])]);
                committer.commit(w).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let flows = store.flows(10).await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].count, 200, "no count lost");
    let kinds: Vec<String> = (0..8).map(|t| format!("k{t}")).collect();
    assert_eq!(flows[0].kinds, kinds, "no kind lost");
}

/// A rectification moves the subject's search-index entries, and its key when the key was the
/// corrected value; a new value that is already another subject's key stays that subject's.
async fn rectification_moves_index_entries_and_the_key(db: Db) {
    use pdgate::store::rights::Reindex;
    use pdgate::store::{Change, Rights};
    let Some((store, url, _tmp)) = open_at(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let first = intake(new_subject(1, Some(1)), vec![value(10, &["tok_a"])]);
    let other = intake(new_subject(2, Some(2)), vec![value(11, &["tok_b"])]);
    store
        .commit_batch(&[first, other], &mut chain)
        .await
        .unwrap();
    let change = |sid: u8, removed: u8, added: u8| Change {
        at: 1_700_000_000_001,
        reindex: vec![Reindex {
            subject_id: vec![sid; 16].into(),
            removed: vec![mac(removed)],
            added: vec![mac(added)],
            key_moves: vec![(mac(removed), mac(added))],
        }],
        ..Change::default()
    };
    // Subject 1's key value [1] (also indexed as [7]) becomes [3].
    let mut c = change(1, 7, 3);
    c.reindex[0].key_moves = vec![(mac(1), mac(3))];
    store.apply_change(&c, &mut chain).await.unwrap();
    assert_eq!(
        store.subjects_by_index(&mac(3)).await.unwrap(),
        [vec![1u8; 16]]
    );
    assert_eq!(
        store.subjects_by_index(&mac(7)).await.unwrap(),
        [vec![2u8; 16]]
    );
    assert!(store.find_subject(&mac(1)).await.unwrap().is_none());
    assert_eq!(
        store.find_subject(&mac(3)).await.unwrap().unwrap().row.id,
        [1; 16]
    );
    // Subject 2's key becomes [3], which subject 1 holds: subject 1 keeps it, subject 2 has none.
    store
        .apply_change(&change(2, 2, 3), &mut chain)
        .await
        .unwrap();
    assert_eq!(
        store.find_subject(&mac(3)).await.unwrap().unwrap().row.id,
        [1; 16]
    );
    assert!(store.find_subject(&mac(2)).await.unwrap().is_none());
    let mut by_index = store.subjects_by_index(&mac(3)).await.unwrap();
    by_index.sort();
    assert_eq!(by_index, [vec![1u8; 16], vec![2u8; 16]]);
    // Erasing subject 1 finds its moved entries: nothing of it is left in the search index.
    let erase = Change {
        at: 1_700_000_000_002,
        erase: vec![whole_erasure(1, "act-r", "request")],
        ..Change::default()
    };
    store.apply_change(&erase, &mut chain).await.unwrap();
    let left = "SELECT (SELECT count(*) FROM subject_index WHERE subject_id = X'01010101010101010101010101010101') \
                + (SELECT count(*) FROM subject_keys WHERE subject_id = X'01010101010101010101010101010101')";
    assert_eq!(count(db, &url, left).await, 0, "nothing of subject 1 left");
    assert_eq!(
        store.subjects_by_index(&mac(3)).await.unwrap(),
        [vec![2u8; 16]]
    );
}

/// Acts name several erasures with their audit entries, are found by request or sweep in pages,
/// and expire after their three years; sweeps list newest first. In four steps: a sweep's acts,
/// a request's act and the sweep list, a running sweep, expiry.
async fn acts_and_sweeps(db: Db) {
    let Some((store, _dir)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let subjects: Vec<IntakeWrite> = (1..=3)
        .map(|i| {
            intake(
                new_subject(i, Some(i)),
                vec![value(10 + i, &[&format!("tok_{i}")])],
            )
        })
        .collect();
    store.commit_batch(&subjects, &mut chain).await.unwrap();
    let at = 1_700_000_000_000;
    sweep_acts_in_pages(&store, &mut chain, at).await;
    request_acts_and_sweep_list(&store, &mut chain, at).await;
    running_sweep_then_interrupted(&store, &mut chain, at).await;
    acts_expire_after_three_years(&store, &mut chain, at).await;
}

fn act(id: &str, request: Option<&str>, sweep: Option<&str>) -> pdgate::store::rights::ActWrite {
    pdgate::store::rights::ActWrite {
        id: id.into(),
        request_id: request.map(str::to_owned),
        sweep_id: sweep.map(str::to_owned),
        act: serde_json::json!({"act_id": id}),
    }
}

/// Two slices of one sweep, each under its act with the erasures' audit lines, read in pages.
async fn sweep_acts_in_pages(store: &Store, chain: &mut Chain, at: i64) {
    use pdgate::store::rights::SweepRow;
    use pdgate::store::{Change, Rights};
    // A sweep slice: subjects 1 and 2 under one act; a second slice: subject 3.
    let slice = Change {
        at,
        erase: vec![
            whole_erasure(1, "act_a", "sweep:swp_1"),
            whole_erasure(2, "act_a", "sweep:swp_1"),
        ],
        acts: vec![act("act_a", None, Some("swp_1"))],
        ..Change::default()
    };
    store.apply_change(&slice, chain).await.unwrap();
    let next = Change {
        at: at + 1,
        erase: vec![whole_erasure(3, "act_b", "sweep:swp_1")],
        acts: vec![act("act_b", None, Some("swp_1"))],
        sweep: Some(SweepRow {
            id: "swp_1".into(),
            started_at: at,
            finished_at: at + 2,
            subjects_erased: 3,
            ..SweepRow::default()
        }),
        ..Change::default()
    };
    store.apply_change(&next, chain).await.unwrap();
    let page = store.acts_of_sweep("swp_1", None, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, "act_a");
    let first: serde_json::Value = serde_json::from_str(&page[0].1).unwrap();
    let extract = first["log_extract"].as_array().unwrap();
    assert_eq!(extract.len(), 2, "one log line per erasure of the act");
    assert_eq!(extract[0]["entry"]["event"]["type"], "erasure");
    assert_eq!(extract[0]["entry"]["event"]["act_id"], "act_a");
    assert_eq!(extract[1]["seq"], extract[0]["seq"].as_i64().unwrap() + 1);
    let rest = store
        .acts_of_sweep("swp_1", Some("act_a"), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0, "act_b");
    assert!(store
        .acts_of_sweep("swp_2", None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.acts_of("swp_1").await.unwrap().is_empty());
}

/// A request's act is found by the request; sweeps list newest first and page from one on.
async fn request_acts_and_sweep_list(store: &Store, chain: &mut Chain, at: i64) {
    use pdgate::store::rights::SweepRow;
    use pdgate::store::{Change, Rights};
    let request = Change {
        at: at + 3,
        acts: vec![act("act_c", Some("req_1"), None)],
        sweep: Some(SweepRow {
            id: "swp_2".into(),
            started_at: at + 3,
            finished_at: at + 4,
            ..SweepRow::default()
        }),
        ..Change::default()
    };
    store.apply_change(&request, chain).await.unwrap();
    assert_eq!(store.acts_of("req_1").await.unwrap().len(), 1);
    assert_eq!(
        store.sweeps(Some("swp_1"), None, 10, false).await.unwrap()[0].subjects_erased,
        3
    );
    let sweeps: Vec<String> = store
        .sweeps(None, None, 10, false)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(sweeps, ["swp_2", "swp_1"]);
    // Paged from a sweep on: the older ones; after one that does not exist, none.
    let older = store.sweeps(None, Some("swp_2"), 10, false).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].id, "swp_1");
    assert!(store
        .sweeps(None, Some("swp_1"), 10, false)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .sweeps(None, Some("swp_x"), 10, false)
        .await
        .unwrap()
        .is_empty());
}

async fn running_sweep_then_interrupted(store: &Store, chain: &mut Chain, at: i64) {
    use pdgate::store::rights::{SweepRow, SweepStatus};
    use pdgate::store::{Change, Rights};
    // A running sweep is listed from its first write and brought up to date by each of its
    // transactions; finished-only readers (the register, /metrics) do not see it.
    let running = |id: &str, start: i64, erased: i64, now: i64| SweepRow {
        id: id.into(),
        started_at: start,
        finished_at: now,
        subjects_erased: erased,
        status: SweepStatus::Running,
        ..SweepRow::default()
    };
    let write = |row: SweepRow, interrupt: bool| Change {
        at: row.finished_at,
        sweep: Some(row),
        interrupt_sweeps: interrupt,
        ..Change::default()
    };
    let first = write(running("swp_3", at + 10, 0, at + 10), true);
    store.apply_change(&first, chain).await.unwrap();
    let progress = write(running("swp_3", at + 10, 7, at + 11), false);
    store.apply_change(&progress, chain).await.unwrap();
    let newest = &store.sweeps(None, None, 10, false).await.unwrap()[0];
    assert_eq!(
        (newest.id.as_str(), newest.status, newest.subjects_erased),
        ("swp_3", SweepStatus::Running, 7)
    );
    assert_eq!(newest.finished_at, at + 11);
    assert_eq!(
        store.sweeps(None, None, 10, true).await.unwrap()[0].id,
        "swp_2"
    );
    // The process stops; the next sweep marks the one it left as interrupted.
    let next_sweep = write(running("swp_4", at + 20, 0, at + 20), true);
    store.apply_change(&next_sweep, chain).await.unwrap();
    let listed: Vec<(String, SweepStatus)> = store
        .sweeps(None, None, 2, false)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.status))
        .collect();
    assert_eq!(
        listed,
        [
            ("swp_4".to_string(), SweepStatus::Running),
            ("swp_3".to_string(), SweepStatus::Interrupted)
        ]
    );
    let done = SweepRow {
        status: SweepStatus::Finished,
        subjects_erased: 2,
        acts_expired: 1,
        ..running("swp_4", at + 20, 0, at + 21)
    };
    store
        .apply_change(&write(done, false), chain)
        .await
        .unwrap();
    let last = &store.sweeps(None, None, 1, true).await.unwrap()[0];
    assert_eq!(
        (last.id.as_str(), last.subjects_erased, last.acts_expired),
        ("swp_4", 2, 1)
    );
}

async fn acts_expire_after_three_years(store: &Store, chain: &mut Chain, at: i64) {
    use pdgate::store::{Change, Rights};
    // Three years on, every act goes.
    let expire = Change {
        at: at + 4 * 365 * 86_400_000,
        expire_acts_before: Some(at + 4 * 365 * 86_400_000),
        ..Change::default()
    };
    assert_eq!(store.apply_change(&expire, chain).await.unwrap(), 3);
    assert!(store
        .acts_of_sweep("swp_1", None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// An erasure is planned from what was read; an intake into one of its subjects before the
/// commit (on either intake path) moves the subject's revision on, and the whole change is
/// refused, naming that subject, until it is planned on the new revision.
async fn an_erasure_refuses_subjects_changed_since_planned(db: Db) {
    use pdgate::store::rights::Rights;
    use pdgate::store::{Change, StoreError};
    let Some((store, url, _dir)) = open_at(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let firsts: Vec<IntakeWrite> = (1..=3)
        .map(|i| {
            intake(
                new_subject(i, Some(i)),
                vec![value(10 + i, &[&format!("tok_{i}")])],
            )
        })
        .collect();
    store.commit_batch(&firsts, &mut chain).await.unwrap();
    let ids: Vec<Vec<u8>> = (1..=3).map(|i| vec![i; 16]).collect();
    let refs: Vec<&[u8]> = ids
        .iter()
        .map(Vec::as_slice)
        .chain([&[9u8; 16][..]])
        .collect();
    let mut revisions = store.subject_revisions(&refs).await.unwrap();
    revisions.sort();
    assert_eq!(
        revisions,
        [
            (ids[0].clone().into(), 0),
            (ids[1].clone().into(), 0),
            (ids[2].clone().into(), 0)
        ],
        "a subject that does not exist has no revision"
    );

    // New values for subjects 1 (batch path) and 2 (savepoint path) after the plan was read.
    let more = |id: u8, mac: u8| IntakeWrite {
        subject: Some(SubjectWrite::Existing {
            id: vec![id; 16].into(),
        }),
        ..intake(
            new_subject(id, None),
            vec![value(mac, &[&format!("tok_{mac}")])],
        )
    };
    store
        .commit_batch(&[more(1, 21)], &mut chain)
        .await
        .unwrap();
    store.commit_each(&[more(2, 22)], &mut chain).await.unwrap();
    let page = store.subjects_page(&[], 10).await.unwrap();
    let page: Vec<i64> = page.iter().map(|s| s.revision).collect();
    assert_eq!(page, [1, 1, 0]);

    let slice = |revs: [i64; 3]| Change {
        at: 1_700_000_001_000,
        erase: (1..=3)
            .zip(revs)
            .map(|(i, revision)| pdgate::store::rights::Erase {
                revision,
                ..whole_erasure(i, "act_a", "sweep:swp_1")
            })
            .collect(),
        ..Change::default()
    };
    let (seq, head) = (chain.seq(), chain.head());
    let values = "SELECT count(*) FROM vault_values";
    match store.apply_change(&slice([0, 0, 0]), &mut chain).await {
        Err(StoreError::SubjectsMoved(moved)) => {
            assert_eq!(moved, [ids[0].clone(), ids[1].clone()])
        }
        other => panic!("planned on old revisions, yet {other:?}"),
    }
    assert_eq!(
        (chain.seq(), chain.head()),
        (seq, head),
        "the chain is as before"
    );
    assert_eq!(count(db, &url, values).await, 5, "nothing was erased");
    assert_eq!(count(db, &url, "SELECT count(*) FROM audit_log").await, seq);
    // A subject erased meanwhile (by a request, say) is refused the same way.
    let gone = Change {
        erase: vec![whole_erasure(9, "act_b", "r")],
        ..slice([1, 1, 0])
    };
    match store.apply_change(&gone, &mut chain).await {
        Err(StoreError::SubjectsMoved(moved)) => assert_eq!(moved, [vec![9u8; 16]]),
        other => panic!("erased a subject that is not there: {other:?}"),
    }
    // Planned again on what is there now: it commits, new values included.
    store
        .apply_change(&slice([1, 1, 0]), &mut chain)
        .await
        .unwrap();
    assert_eq!(count(db, &url, values).await, 0);
    assert_eq!(count(db, &url, "SELECT count(*) FROM subjects").await, 0);
}

/// The webhook outbox: due rows are claimed a batch at a time (never the same row twice, even by
/// two claimers at once), and attempts recorded together; a failed one comes due again.
async fn outbox_rows_are_claimed_in_batches(db: Db) {
    use pdgate::store::rights::{Attempt, OutboxWrite};
    use pdgate::store::{Change, Rights};
    let Some((store, url, _dir)) = open_at(db).await else {
        return;
    };
    let at = 1_700_000_000_000;
    let hook = |i: usize| OutboxWrite {
        event_id: format!("evt_{i}"),
        request_id: Some("req_o".into()),
        upstream: "crm".into(),
        url: "http://127.0.0.1:9/erase".into(),
        event: "erasure".into(),
        payload: "{}".into(),
    };
    let queue = |events: std::ops::Range<usize>| Change {
        at,
        outbox: events.map(hook).collect(),
        ..Change::default()
    };
    store
        .apply_change(&queue(0..5), &mut Chain::new("w"))
        .await
        .unwrap();
    let lease = at + 60_000;
    let first = store.outbox_claim_due(at, lease, 2).await.unwrap();
    let events: Vec<&str> = first.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(events, ["evt_0", "evt_1"], "oldest first, in id order");
    assert!(first.iter().all(|r| r.next_attempt_at == lease));
    // Two claimers at once share the other three.
    let (a, b) = tokio::join!(
        store.outbox_claim_due(at, lease, 2),
        store.outbox_claim_due(at, lease, 2)
    );
    let mut rest: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|r| r.event_id)
        .collect();
    rest.sort();
    assert_eq!(rest, ["evt_2", "evt_3", "evt_4"]);
    assert!(
        store
            .outbox_claim_due(at, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "all leased"
    );

    let attempts = [
        Attempt {
            id: first[0].id,
            delivered_at: Some(at + 1),
            next_attempt_at: at + 1,
            status: Some(200),
            error: None,
        },
        Attempt {
            id: first[1].id,
            delivered_at: None,
            next_attempt_at: at + 2_000,
            status: Some(503),
            error: Some("upstream answered 503".into()),
        },
    ];
    store.outbox_attempted(&attempts).await.unwrap();
    let rows = store.outbox_of("req_o").await.unwrap();
    assert_eq!(rows[0].delivered_at, Some(at + 1));
    assert_eq!((rows[1].attempts, rows[1].last_status), (1, Some(503)));
    let again = store.outbox_claim_due(at + 2_000, lease, 10).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "the failed one is due again, the delivered one never"
    );
    assert_eq!(again[0].event_id, "evt_1");

    if db == Db::Postgres {
        // A row another replica holds is skipped, not waited for: its claimer may be sending
        // that batch for minutes. Without `SKIP LOCKED` this claim blocks on the lock.
        use sqlx::Connection;
        store
            .apply_change(&queue(5..7), &mut Chain::new("w"))
            .await
            .unwrap();
        let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut held = other.begin().await.unwrap();
        sqlx::query("SELECT id FROM outbox WHERE event_id = 'evt_5' FOR UPDATE")
            .fetch_one(&mut *held)
            .await
            .unwrap();
        let claim = store.outbox_claim_due(at, lease, 10);
        let claimed = tokio::time::timeout(std::time::Duration::from_secs(5), claim)
            .await
            .expect("a claim waited for a row another claimer holds")
            .unwrap();
        let events: Vec<&str> = claimed.iter().map(|r| r.event_id.as_str()).collect();
        assert_eq!(events, ["evt_6"]);
        held.rollback().await.unwrap();
        let freed = store.outbox_claim_due(at, lease, 10).await.unwrap();
        assert_eq!(freed[0].event_id, "evt_5");
    }
}

/// The search index's new entries may wait outside the index (SQLite folds them in bulk, off the
/// commit path): a search finds them before and after the fold, and an erasure or a purge right
/// after the intake, before any fold, leaves nothing that finds the subject.
async fn new_index_entries_are_found_before_and_after_they_are_folded(db: Db) {
    use pdgate::store::{Change, Rights};
    let Some((store, url, _t)) = open_at(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let first = intake(new_subject(1, Some(1)), vec![value(10, &["tok_a"])]);
    store.commit_batch(&[first], &mut chain).await.unwrap();
    let ids = |v: &[u8]| {
        v.iter()
            .map(|b| vec![*b; 16].into())
            .collect::<Vec<pdgate::store::SubjectId>>()
    };
    assert_eq!(store.subjects_by_index(&mac(7)).await.unwrap(), ids(&[1]));
    let by_token = |t: &'static str| {
        let store = store.clone();
        async move { store.value_by_token(t).await.unwrap().len() }
    };
    assert_eq!(
        by_token("tok_a").await,
        1,
        "a token is found before the fold"
    );
    let pending =
        "SELECT (SELECT count(*) FROM index_pending) + (SELECT count(*) FROM tokens_pending)";
    let folded = store.fold_index().await.unwrap();
    assert_eq!(
        folded,
        2 * u64::from(db == Db::Sqlite),
        "SQLite defers the entry and the token"
    );
    assert_eq!(by_token("tok_a").await, 1, "and after it");
    if db == Db::Sqlite {
        assert_eq!(count(db, &url, pending).await, 0);
    }
    assert_eq!(store.subjects_by_index(&mac(7)).await.unwrap(), ids(&[1]));

    // A second person with the same identifier (a shared address), then two erasures before
    // any fold: the one that erases the subject, and the deferred one a sweep makes.
    let second = intake(new_subject(2, Some(2)), vec![value(11, &["tok_b"])]);
    let third = intake(new_subject(3, Some(3)), vec![value(12, &["tok_c"])]);
    store
        .commit_batch(&[second, third], &mut chain)
        .await
        .unwrap();
    assert_eq!(
        store.subjects_by_index(&mac(7)).await.unwrap(),
        ids(&[1, 2, 3])
    );
    let erase = |sid, defer_purge| Change {
        at: 1_700_000_000_001,
        erase: vec![whole_erasure(sid, "act-1", "request:req_1")],
        defer_purge,
        ..Change::default()
    };
    store
        .apply_change(&erase(2, false), &mut chain)
        .await
        .unwrap();
    store
        .apply_change(&erase(3, true), &mut chain)
        .await
        .unwrap();
    assert_eq!(store.subjects_by_index(&mac(7)).await.unwrap(), ids(&[1]));
    let left =
        "SELECT count(*) FROM subject_index WHERE subject_id = X'02020202020202020202020202020202'";
    assert_eq!(
        count(db, &url, left).await,
        0,
        "the erased subject's entry is gone"
    );
    if db == Db::Sqlite {
        assert_eq!(
            count(db, &url, pending).await,
            0,
            "folded before the erasure"
        );
    }
}

/// Past a couple of thousand pending rows each intake batch folds a step of them (SQLite): the
/// pending rows stay bounded, large batches included, and every token and index entry is found
/// wherever it is, by detokenize, by a search and by the next intake of the same value.
async fn pending_index_rows_fold_in_steps_and_stay_found(db: Db) {
    let Some((store, url, _t)) = open_at(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let id = |i: u16, fill: u8, len: usize| {
        let mut v = i.to_be_bytes().to_vec();
        v.resize(len, fill);
        v
    };
    let mac_of = |i: u16, fill: u8| -> pdgate::store::Mac {
        let mut m = [fill; 32];
        m[..2].copy_from_slice(&i.to_be_bytes());
        m.into()
    };
    let write = |i: u16, subject: SubjectWrite| IntakeWrite {
        index: vec![mac_of(i, 7)],
        consents: Vec::new(),
        ..intake(
            subject,
            vec![ValueWrite {
                value_mac: mac_of(i, 6),
                candidates: vec![format!("t{i}@r").into()],
                ..value(0, &[])
            }],
        )
    };
    let new = |i: u16| SubjectWrite::New {
        id: id(i, 5, 16).into(),
        key: Some(mac_of(i, 5)),
        wrapped_dek: vec![9; 60],
        kek_version: 1,
    };
    // Batches of 500 intakes (1,000 pending rows each), as an import makes them.
    for first in (0..3000u16).step_by(500) {
        let batch: Vec<_> = (first..first + 500).map(|i| write(i, new(i))).collect();
        let out = store.commit_batch(&batch, &mut chain).await.unwrap();
        assert!(out.iter().all(|o| matches!(o, IntakeOutcome::Committed(_))));
    }
    if db == Db::Sqlite {
        let pending =
            "SELECT (SELECT count(*) FROM index_pending) + (SELECT count(*) FROM tokens_pending)";
        let left = count(db, &url, pending).await;
        assert!((1..2400).contains(&left), "{left} rows pending of 6,000");
    }
    // The same value again (a retry) keeps its token, wherever the token is.
    let again: Vec<_> = (0..3000u16)
        .step_by(7)
        .map(|i| {
            write(
                i,
                SubjectWrite::Existing {
                    id: id(i, 5, 16).into(),
                },
            )
        })
        .collect();
    let out = store.commit_batch(&again, &mut chain).await.unwrap();
    for (o, i) in out.iter().zip((0..3000u16).step_by(7)) {
        assert_eq!(*o, tokens(&[&format!("t{i}@r")]), "intake {i}");
    }
    for i in (0..3000u16).step_by(13) {
        let token = format!("t{i}@r");
        let found = store
            .values_with_subjects(&[&token], "marketing")
            .await
            .unwrap();
        assert_eq!(found.len(), 1 + usize::from(i % 7 == 0), "{token}");
        let mac = mac_of(i, 7);
        assert_eq!(
            store.subjects_by_index(&mac).await.unwrap().len(),
            1,
            "index {i}"
        );
    }
    assert!(verify_chain(&store.audit_rows("w1").await.unwrap()).is_ok());
}

/// A held erasure keeps the subject's consent records (what was agreed, when, to which text) but
/// not the hashes of the address and browser they came from.
async fn a_held_erasure_keeps_consents_without_client_hashes(db: Db) {
    use pdgate::store::{Change, Rights};
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let mut chain = Chain::new("w1");
    let w = intake(new_subject(1, Some(1)), vec![value(10, &["tok_a"])]);
    store.commit_batch(&[w], &mut chain).await.unwrap();
    let before = store.consents_of(&[1; 16]).await.unwrap();
    assert!(
        before.iter().all(|c| c.ip_hash.is_some()),
        "the fixture has them"
    );
    let mut erase = whole_erasure(1, "act-1", "request:req_1");
    erase.keep_categories = vec!["contact".into()];
    erase.hold_until = Some(1_800_000_000_000);
    let change = Change {
        at: 1_700_000_000_001,
        erase: vec![erase],
        ..Change::default()
    };
    store.apply_change(&change, &mut chain).await.unwrap();
    let after = store.consents_of(&[1; 16]).await.unwrap();
    assert_eq!(after.len(), before.len(), "the records stay");
    assert!(
        after
            .iter()
            .all(|c| c.ip_hash.is_none() && c.ua_hash.is_none()),
        "{after:?}"
    );
}

/// A KEK rotation on the store (issue 28): with the new KEK registered beside the old one, the
/// rotation rewraps the root secret, every data key and every held key in batches; afterwards the
/// new KEK alone opens them all and derives the same keys, the old one opens nothing, a process
/// still on the old KEK can no longer wrap new keys under it, and running it again does nothing.
async fn a_rotation_moves_every_key_and_a_process_on_the_old_kek_cannot_wrap_new_ones(db: Db) {
    use pdgate::crypto::{hold_keys, Aad, Kek};
    use pdgate::server::unlock;
    use pdgate::store::{Change, KeyRing, Rights};
    const PACE: pdgate::keys::Pace = pdgate::keys::Pace {
        batch: 2,
        pause: std::time::Duration::ZERO,
    };
    let Some((store, _t)) = open(db).await else {
        return;
    };
    let hex1 = "11".repeat(32);
    let hex2 = "22".repeat(32);
    let kek = |hex: &str| Kek::parse(hex, 1).unwrap();
    let old = unlock(&store, kek(&hex1), None).await.unwrap();
    fn aad(id: &[u8]) -> Aad<'_> {
        Aad {
            subject: id,
            field: "email",
            purpose: "crm",
            scope: None,
        }
    }
    // Five subjects under the old KEK, one of them erased under a hold (its data key shredded,
    // one held key left), each with a value sealed under its data key.
    let mut chain = Chain::new("w1");
    let mut sealed = Vec::new();
    for sid in 1..=5u8 {
        let id = vec![sid; 16];
        let (dek, wrapped) = old.new_dek(&id);
        sealed.push((id.clone(), dek.encrypt(b"a@example.com", aad(&id))));
        let subject = SubjectWrite::New {
            id: id.clone().into(),
            key: Some([sid; 32].into()),
            wrapped_dek: wrapped,
            kek_version: 1,
        };
        let mut w = intake(subject, vec![value(sid + 10, &[&format!("tok_{sid}")])]);
        w.consents.clear();
        store.commit_batch(&[w], &mut chain).await.unwrap();
        if sid == 5 {
            let mut erase = whole_erasure(5, "act-5", "request:req_5");
            erase.keep_categories = vec!["contact".into()];
            erase.hold_until = Some(1_800_000_000_000);
            erase.held_keys = hold_keys(&old, &id, &dek, &[Some("contact")], 1_800_000_000_000);
            erase.shred_data_key = true;
            let change = Change {
                at: 1_700_000_000_001,
                erase: vec![erase],
                ..Change::default()
            };
            store.apply_change(&change, &mut chain).await.unwrap();
        }
    }
    // The replicas restart on the new KEK with the old as the previous one: it becomes version
    // 2 and wraps what is new, before any rotation ran.
    let during = unlock(&store, kek(&hex2), Some(kek(&hex1))).await.unwrap();
    assert_eq!(during.kek_versions(), vec![2, 1]);
    assert_eq!(during.root_id(), old.root_id());
    let (_, wrapped6) = during.new_dek(&[6; 16]);
    let six = SubjectWrite::New {
        id: vec![6; 16].into(),
        key: Some([6; 32].into()),
        wrapped_dek: wrapped6,
        kek_version: 2,
    };
    let mut w = intake(six, vec![value(16, &["tok_6"])]);
    w.consents.clear();
    store.commit_batch(&[w], &mut chain).await.unwrap();

    let report = pdgate::keys::rotate(&store, &during, PACE, |_| {})
        .await
        .unwrap();
    assert!(report.root_rewrapped, "{report:?}");
    assert_eq!(
        (
            report.data_keys,
            report.held_keys,
            report.unopenable,
            report.retired
        ),
        (4, 1, 0, true),
        "{report:?}"
    );
    assert_eq!(report.subjects_scanned, 6);
    let status = pdgate::keys::status(&store, &[]).await.unwrap();
    assert!(status.complete && status.current == 2, "{status:?}");
    assert!(status.versions[0].retired_at.is_some() && status.versions[1].retired_at.is_none());
    assert_eq!(
        (status.versions[1].data_keys, status.versions[1].held_keys),
        (5, 1)
    );

    // A process still on the old KEK: its new keys are refused by the database.
    let stale = SubjectWrite::New {
        id: vec![7; 16].into(),
        key: Some([7; 32].into()),
        wrapped_dek: old.new_dek(&[7; 16]).1,
        kek_version: 1,
    };
    let mut w = intake(stale, vec![value(17, &["tok_7"])]);
    w.consents.clear();
    let refused = store.commit_batch(&[w], &mut chain).await;
    assert!(
        refused.is_err(),
        "a key wrapped under a rotated-away KEK was stored: {refused:?}"
    );
    assert!(store.subject(&[7; 16]).await.unwrap().is_none());

    // The new KEK alone opens every key; the old one opens nothing.
    let after = unlock(&store, kek(&hex2), None).await.unwrap();
    assert_eq!(
        after.root_id(),
        old.root_id(),
        "tokens and indexes keep their keys"
    );
    for (id, ciphertext) in &sealed[..4] {
        let row = store.subject(id).await.unwrap().unwrap();
        assert_eq!(row.kek_version, 2);
        let dek = after.unwrap_dek(id, &row.wrapped_dek).unwrap();
        assert_eq!(
            &dek.decrypt(ciphertext, aad(id)).unwrap()[..],
            b"a@example.com"
        );
        assert!(old.unwrap_dek(id, &row.wrapped_dek).is_err());
    }
    let held = store.key_states(&[&[5u8; 16][..]]).await.unwrap();
    let h = &held[0].held[0];
    assert_eq!(h.kek_version, 2);
    assert!(after
        .unwrap_held(&[5; 16], Some("contact"), &h.wrapped)
        .is_ok());
    assert!(matches!(
        unlock(&store, kek(&hex1), None).await,
        Err(pdgate::server::ServeError::RotatedKey(2))
    ));
    let again = pdgate::keys::rotate(&store, &after, PACE, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.data_keys, again.held_keys, again.root_rewrapped),
        (0, 0, false)
    );
    let ring = store.ring().await.unwrap().unwrap();
    assert!(ring.rotated_at.is_some());
}

both_backends! {
    key_rotation => a_rotation_moves_every_key_and_a_process_on_the_old_kek_cannot_wrap_new_ones;
    outbox => outbox_rows_are_claimed_in_batches;
    moved_subjects => an_erasure_refuses_subjects_changed_since_planned;
    acts => acts_and_sweeps;
    reindex => rectification_moves_index_entries_and_the_key;
    concurrent_writers => concurrent_writers_wait_for_each_other;
    oversight => oversight_figures_breaches_notifications_and_flows;
    ledger => restriction_erasure_consent_states_texts_and_audit_pages;
    root_secret => root_secret_is_stored_once;
    intake_commit => intake_commits_subject_values_consents_counters_and_audit;
    tokens => the_same_value_keeps_its_token_and_collisions_take_the_next_candidate;
    upgrade => an_older_vault_upgrades_in_place;
    deferred_purge => a_swept_subject_is_gone_before_its_entries_are_purged;
    savepoints => a_failing_intake_rolls_back_alone_and_the_chain_stays_whole;
    group_commit => group_commit_serves_concurrent_intakes;
    search_index => new_index_entries_are_found_before_and_after_they_are_folded;
    fold_steps => pending_index_rows_fold_in_steps_and_stay_found;
    held_consents => a_held_erasure_keeps_consents_without_client_hashes;
}

/// An erasure reaches the copies SQLite itself keeps: the erased subject's wrapped data key and
/// ciphertext are neither in the database file's free space (`secure_delete`) nor in the WAL,
/// which the checkpointer truncates after an erasure. Without either, both stay readable in the
/// files until their pages happen to be reused.
#[tokio::test]
async fn an_erased_subjects_key_and_values_leave_the_database_file_and_its_wal() {
    use pdgate::store::{Change, Rights};
    let Some((store, _url, tmp)) = open_at(Db::Sqlite).await else {
        return;
    };
    let dek = b"WRAPPED-DATA-KEY-OF-SUBJECT-ONE-0123456789abcdef".to_vec();
    let ciphertext = b"CIPHERTEXT-OF-SUBJECT-ONE-0123456789".to_vec();
    let mut chain = Chain::new("w1");
    let subject = SubjectWrite::New {
        id: vec![1; 16].into(),
        key: Some(mac(1)),
        wrapped_dek: dek.clone(),
        kek_version: 1,
    };
    let kept = intake(new_subject(2, Some(2)), vec![value(11, &["tok_b"])]);
    let erased = intake(
        subject,
        vec![ValueWrite {
            ciphertext: ciphertext.clone(),
            ..value(10, &["tok_a"])
        }],
    );
    store
        .commit_batch(&[erased, kept], &mut chain)
        .await
        .unwrap();
    let files = || {
        let mut all = Vec::new();
        for name in ["pdgate.db", "pdgate.db-wal"] {
            all.extend(std::fs::read(tmp.path().join(name)).unwrap_or_default());
        }
        all
    };
    let holds = |all: &[u8], needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
    assert!(holds(&files(), &dek), "the fixture is in the files before");
    let change = Change {
        at: 1_700_000_000_001,
        erase: vec![whole_erasure(1, "act-1", "request:req_1")],
        ..Change::default()
    };
    store.apply_change(&change, &mut chain).await.unwrap();
    let wal = tmp.path().join("pdgate.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not truncated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let all = files();
    assert!(
        !holds(&all, &dek),
        "the wrapped data key is still in the files"
    );
    assert!(
        !holds(&all, &ciphertext),
        "the ciphertext is still in the files"
    );
    assert_eq!(
        store.values_of(&[2; 16]).await.unwrap().len(),
        1,
        "the other subject stays"
    );
}
