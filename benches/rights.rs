//! Erasure and retention at volume (issue 4): crypto-shredding 10,000 subjects through the same
//! plan-and-apply path as erasure requests, and a retention sweep over expired values, on SQLite
//! (WAL, synchronous=FULL). One timed run each, after seeding real intakes of the bench form.
//! Run: `cargo bench --bench rights` (`SWEEP_SUBJECTS=170000` for the 1,000,000-value sweep).

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::path::PathBuf;
use std::time::Instant;

use pdgate::audit::Chain;
use pdgate::crypto::{Kek, Keys, RootSecret};
use pdgate::policy::Policy;
use pdgate::requests::erasure::{self, Reason, Scope};
use pdgate::store::rights::Change;
use pdgate::store::{Backend, Committer, Rights, Store, VaultValue};

#[path = "common.rs"]
mod common;

async fn seed(store: &Store, policy: &Policy, keys: &Keys, subjects: usize) -> usize {
    let mut chain = Chain::new("seed");
    let mut n = 0;
    let mut values = 0;
    let mut s = 0u64;
    while n < subjects {
        let batch = common::writes(policy, keys, 256.min(subjects - n), &mut s);
        values += batch.iter().map(|w| w.values.len()).sum::<usize>();
        store.commit_batch(&batch, &mut chain).await.unwrap();
        n += batch.len();
    }
    values
}

async fn open(dir: &std::path::Path, name: &str) -> Store {
    let s = Store::open(&format!("sqlite://{}", dir.join(name).display()))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let policy =
        Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/policies")).unwrap();
    let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
    let dir = tempfile::tempdir().unwrap();

    // Erasure of 10,000 subjects: read, plan (act, webhooks) and apply in pages of 500.
    let store = open(dir.path(), "erase.db").await;
    let values = seed(&store, &policy, &keys, 10_000).await;
    let (committer, task) = Committer::start(store.clone(), Chain::new("bench"), None);
    let started = Instant::now();
    let mut after = Vec::new();
    let mut erased = 0;
    loop {
        let page = store.subjects_page(&after, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.state.row.id.clone();
        let ids: Vec<&[u8]> = page.iter().map(|s| s.state.row.id.as_slice()).collect();
        let vals = store.values_of_subjects(&ids).await.unwrap();
        let recs = store.consents_of_subjects(&ids).await.unwrap();
        let mut change = Change {
            at: pdgate::now_millis(),
            ..Change::default()
        };
        for id in &ids {
            let mine: Vec<&VaultValue> = vals.iter().filter(|v| v.subject_id == *id).collect();
            let r: Vec<_> = recs.iter().filter(|r| r.subject_id == *id).collect();
            let p = erasure::plan(
                &policy,
                "sqlite",
                id,
                &mine,
                &r,
                Scope::All,
                Reason::Request {
                    id: "req_bench",
                    kind: "erasure",
                },
                "bench",
                change.at,
            );
            change.outbox.extend(p.outbox);
            change.erase.push(p.erase);
        }
        erased += change.erase.len();
        committer.apply(change).await.unwrap();
    }
    let took = started.elapsed();
    println!(
        "erasure: {erased} subjects ({values} values) crypto-shredded with acts, webhooks and audit in {:.2} s ({:.0} subjects/s)",
        took.as_secs_f64(),
        erased as f64 / took.as_secs_f64()
    );
    drop(committer);
    task.await.unwrap();

    // Retention sweep: every value past its retention (the clock is moved 10 years on).
    let subjects: usize = std::env::var("SWEEP_SUBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let store = open(dir.path(), "sweep.db").await;
    let values = seed(&store, &policy, &keys, subjects).await;
    let (committer, task) = Committer::start(store.clone(), Chain::new("bench"), None);
    let later = pdgate::now_millis() + 10 * 366 * 86_400_000;
    let started = Instant::now();
    let report = pdgate::retention::sweep::run(&store, &committer, &policy, later, false)
        .await
        .unwrap();
    let took = started.elapsed();
    println!(
        "sweep: {} subjects, {} of {values} values erased in {:.2} s ({:.0} values/s)",
        report.subjects_erased,
        report.values_erased,
        took.as_secs_f64(),
        report.values_erased as f64 / took.as_secs_f64()
    );
    drop(committer);
    task.await.unwrap();
}
