//! Erasure and retention at volume (issue 4): crypto-shredding 10,000 subjects through the same
//! plan-and-apply path as erasure requests, and a retention sweep over expired values, on SQLite
//! (WAL, synchronous=FULL). One timed run each, after seeding real intakes of the bench form.
//! Run: `cargo bench --bench rights` (`SWEEP_SUBJECTS=333334` for the 1,000,000-value sweep, 3 values a subject;
//! the latency probe's own intakes are fresh, so the sweep erases the seeded values only).

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly
#![allow(clippy::too_many_lines)] // one timed scenario, read top to bottom

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pdgate::audit::Chain;
use pdgate::crypto::{Kek, Keys, RootSecret};
use pdgate::policy::Policy;
use pdgate::requests::erasure::{self, Reason, Scope};
use pdgate::store::rights::Change;
use pdgate::store::{Backend, Committer, Rights, Store, VaultValue};

#[path = "common.rs"]
mod common;
#[path = "support/probe.rs"]
mod probe;

use probe::{cpu_seconds, probe, probe_tasks, PROBE_GAP_MS};

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
        after = last.state.row.id.to_vec();
        let ids: Vec<&[u8]> = page.iter().map(|s| s.state.row.id.as_bytes()).collect();
        let vals = store.values_of_subjects(&ids).await.unwrap();
        let recs = store.consents_of_subjects(&ids).await.unwrap();
        let mut change = Change {
            at: pdgate::now_millis(),
            ..Change::default()
        };
        let reason = Reason::Request {
            id: "req_bench",
            kind: "erasure",
        };
        let planned: Vec<_> = page
            .iter()
            .map(|s| {
                let id = &s.state.row.id;
                let mine: Vec<&VaultValue> = vals.iter().filter(|v| v.subject_id == *id).collect();
                let r: Vec<_> = recs.iter().filter(|r| r.subject_id == *id).collect();
                let target = erasure::Target {
                    id,
                    revision: s.revision,
                    keys: &keys,
                    wrapped_dek: &s.state.row.wrapped_dek,
                    seals_data: false,
                };
                erasure::plan(&policy, target, &mine, &r, Scope::All, reason, change.at)
            })
            .collect();
        let act = erasure::Act {
            policy: &policy,
            backend: "sqlite",
            reason,
            by: erasure::Destroyer::sweeper(),
            zone: &pdgate::legal_day::LegalZone::default(),
            at: change.at,
        };
        act.add(&mut change, planned);
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
    // SWEEP_PG=URL: the sweep on PostgreSQL (a database `pdgate_bench_sweep` is made afresh
    // there). SWEEP_SEEDED=FILE (SQLite): keep the seeded database there and start later runs
    // from a copy.
    let pg = std::env::var("SWEEP_PG").ok();
    let seeded = std::env::var_os("SWEEP_SEEDED").map(PathBuf::from);
    let db = dir.path().join("sweep.db");
    let (store, values) = if let Some(base) = &pg {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query("DROP DATABASE IF EXISTS pdgate_bench_sweep WITH (FORCE)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("CREATE DATABASE pdgate_bench_sweep")
            .execute(&mut conn)
            .await
            .unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let store = Store::open(&format!("{prefix}/pdgate_bench_sweep"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let n = seed(&store, &policy, &keys, subjects).await;
        // Statistics and visibility as a long-running database would have them.
        let mut conn = sqlx::PgConnection::connect(&format!("{prefix}/pdgate_bench_sweep"))
            .await
            .unwrap();
        sqlx::query("VACUUM ANALYZE")
            .execute(&mut conn)
            .await
            .unwrap();
        (store, n)
    } else {
        let values = match &seeded {
            Some(f) if f.exists() => {
                std::fs::copy(f, &db).unwrap();
                // On disk before the idle probe: its write-back would otherwise land in the idle
                // figure (p99 inflated, max ~450 ms) and flatter the during/idle ratio.
                std::fs::File::open(&db).unwrap().sync_all().unwrap();
                std::fs::read_to_string(f.with_extension("values"))
                    .unwrap()
                    .parse()
                    .unwrap()
            }
            _ => {
                let seeding = open(dir.path(), "sweep.db").await;
                let n = seed(&seeding, &policy, &keys, subjects).await;
                if let Some(f) = &seeded {
                    // Closed, so the WAL is in the main file and no checkpoint writes to it
                    // during the copy: the copy is whole (copied open, it was once malformed).
                    seeding.close().await;
                    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
                    assert_eq!(wal, 0, "the WAL outlived the store's close");
                    std::fs::copy(&db, f).unwrap();
                    std::fs::write(f.with_extension("values"), n.to_string()).unwrap();
                }
                n
            }
        };
        (open(dir.path(), "sweep.db").await, values)
    };
    let (committer, task) = Committer::start(store.clone(), Chain::new("bench"), None);
    let later = pdgate::now_millis() + 10 * 366 * 86_400_000;
    let policy = Arc::new(policy);
    let keys = Arc::new(keys);
    // Intake latency at a steady rate with nothing else writing, then while the sweep runs.
    let idle = probe(&committer, &policy, &keys, (0, later), async {
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let wal = |pg: &Option<String>| {
        let pg = pg.clone();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(pg.as_ref()?).await.unwrap();
            let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            Some(lsn)
        }
    };
    let wal_before = wal(&pg).await;
    let cpu_before = cpu_seconds();
    eprintln!("sweep: starting");
    let started = Instant::now();
    let zone = pdgate::legal_day::LegalZone::default();
    let sweep =
        pdgate::retention::sweep::run(&store, &committer, &policy, &keys, &zone, later, false);
    let ((report, took), during) = {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let during = probe(&committer, &policy, &keys, (1, later), async {
            let _ = rx.await;
        });
        let sweep = async {
            let r = sweep.await.unwrap();
            let took = started.elapsed();
            drop(tx);
            (r, took)
        };
        tokio::join!(sweep, during)
    };
    println!(
        "sweep: {} subjects, {} of {values} values erased in {:.2} s ({:.0} values/s)",
        report.subjects_erased,
        report.values_erased,
        took.as_secs_f64(),
        report.values_erased as f64 / took.as_secs_f64()
    );
    // Steadier than the wall time on a shared VM (the database server's CPU is not in it).
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "bench process CPU during the sweep: {cpu:.1} s ({:.1} µs per value erased)",
        cpu * 1e6 / report.values_erased.max(1) as f64
    );
    if let (Some(from), Some(to)) = (wal_before, wal(&pg).await) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(pg.as_ref().unwrap())
            .await
            .unwrap();
        let bytes: f64 =
            sqlx::query_scalar(&format!("SELECT pg_wal_lsn_diff('{to}', '{from}')::float8"))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        // The probe's intakes are in it too (pg_waldump --start/--end for a breakdown).
        println!(
            "PostgreSQL WAL during the sweep: {:.0} MiB ({:.0} bytes per value erased), {from} to {to}",
            bytes / 1048576.0,
            bytes / report.values_erased.max(1) as f64
        );
    }
    println!(
        "intake commit latency, {} writers each committing one intake every {PROBE_GAP_MS} ms:",
        probe_tasks()
    );
    println!("  idle:         {idle}");
    println!("  during sweep: {during}");
    drop(committer);
    task.await.unwrap();
}
