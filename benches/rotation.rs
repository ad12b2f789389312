//! KEK rotation at volume (issue 28): `ROTATE_SUBJECTS` subjects (default 100,000; 1,000,000
//! for the figure) seeded with real intakes of the bench form under KEK version 1, then
//! rotated to version 2 by the same code as `pdgate keys rotate`, while the latency probe commits
//! intakes beside it. SQLite (WAL, synchronous=FULL) by default; `ROTATE_PG=URL` runs it on
//! PostgreSQL in a database `pdgate_bench_rotate` made afresh there.
//! Run: `ROTATE_SUBJECTS=1000000 cargo bench --bench rotation` (`ROTATE_BATCH`, default 1000, and
//! `ROTATE_PAUSE_MS`, default 0, as `keys rotate --batch` and `--pause-ms`).

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pdgate::audit::Chain;
use pdgate::crypto::{Kek, Keys, RootSecret};
use pdgate::keys::Pace;
use pdgate::policy::Policy;
use pdgate::store::{Backend, Committer, KeyRing, Store};

#[path = "common.rs"]
mod common;
#[path = "support/probe.rs"]
mod probe;

use probe::{cpu_seconds, probe, probe_tasks, PROBE_GAP_MS};

fn copy(k: &Kek) -> Kek {
    Kek::parse(&k.to_hex(), k.version()).unwrap()
}

async fn open_store(dir: &std::path::Path, pg: Option<&str>) -> Store {
    let url = match pg {
        Some(base) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
            for sql in [
                "DROP DATABASE IF EXISTS pdgate_bench_rotate WITH (FORCE)",
                "CREATE DATABASE pdgate_bench_rotate",
            ] {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            let (prefix, _) = base.rsplit_once('/').unwrap();
            format!("{prefix}/pdgate_bench_rotate")
        }
        None => format!("sqlite://{}", dir.join("rotate.db").display()),
    };
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// `ROTATE_BATCH` (1000) and `ROTATE_PAUSE_MS` (0), as `keys rotate --batch` and `--pause-ms`.
fn pace() -> Pace {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Pace {
        batch: i64::try_from(env("ROTATE_BATCH", 1000)).unwrap(),
        pause: Duration::from_millis(env("ROTATE_PAUSE_MS", 0)),
    }
}

/// `subjects` intakes of the bench form, each a new subject, committed in batches of 256.
async fn seed(store: &Store, policy: &Policy, keys: &Keys, subjects: usize) {
    let mut chain = Chain::new("seed");
    let (mut n, mut seed) = (0, 0u64);
    let seeding = Instant::now();
    while n < subjects {
        let batch = common::writes(policy, keys, 256.min(subjects - n), &mut seed);
        store.commit_batch(&batch, &mut chain).await.unwrap();
        n += batch.len();
    }
    store.fold_index().await.unwrap();
    eprintln!(
        "seeded {n} subjects in {:.0} s",
        seeding.elapsed().as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let policy =
        Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/policies")).unwrap();
    let subjects: usize = std::env::var("ROTATE_SUBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let pg = std::env::var("ROTATE_PG").ok();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), pg.as_deref()).await;

    // The key ring under version 1, and the subjects seeded under it.
    let root = RootSecret::generate();
    let (old, new) = (Kek::generate(1), Kek::generate(2));
    store.root_secret((1, root.wrap(&old))).await.unwrap();
    assert_eq!(
        store.add_kek(Some(1), &old.check(), 0).await.unwrap(),
        Some(1)
    );
    seed(&store, &policy, &Keys::derive(copy(&old), &root), subjects).await;

    // The replicas restart on the new KEK with the old one as the previous.
    assert_eq!(store.add_kek(None, &new.check(), 0).await.unwrap(), Some(2));
    let keys = Arc::new(Keys::derive(copy(&new), &root).with_previous(vec![copy(&old)]));
    let (committer, task) = Committer::start(store.clone(), Chain::new("bench"), None);
    let policy = Arc::new(policy);
    let now = pdgate::now_millis();
    let idle = probe(&committer, &policy, &keys, (0, now), async {
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let pace = pace();
    let ((report, took), during) = {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let during = probe(&committer, &policy, &keys, (1, now), async {
            let _ = rx.await;
        });
        let rotation = async {
            let r = pdgate::keys::rotate(&store, &keys, pace, |_| {})
                .await
                .unwrap();
            let took = started.elapsed();
            drop(tx);
            (r, took)
        };
        tokio::join!(rotation, during)
    };
    let cpu = cpu_seconds() - cpu_before;
    assert!(report.retired, "{report:?}");
    println!(
        "rotation ({}): {} data keys of {} subjects rewrapped in {:.2} s ({:.0} keys/s), batches of {}, {:?} between",
        store.backend_name(),
        report.data_keys,
        report.subjects_scanned,
        took.as_secs_f64(),
        report.data_keys as f64 / took.as_secs_f64(),
        pace.batch,
        pace.pause
    );
    println!(
        "bench process CPU during the rotation (probe included): {cpu:.1} s ({:.1} µs per key)",
        cpu * 1e6 / report.data_keys.max(1) as f64
    );
    println!(
        "intake commit latency, {} writers each committing one intake every {PROBE_GAP_MS} ms:",
        probe_tasks()
    );
    println!("  idle:            {idle}");
    println!("  during rotation: {during}");
    drop(committer);
    task.await.unwrap();
    store.close().await;
    if let Some(base) = &pg {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query("DROP DATABASE IF EXISTS pdgate_bench_rotate WITH (FORCE)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
