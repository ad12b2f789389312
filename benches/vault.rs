//! Criterion benchmark of the vault write path: one group-commit batch of intakes on SQLite
//! (WAL, synchronous=FULL) — the cost the load test's intake figure is built on.
//! Run: `cargo bench --bench vault`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use pdgate::audit::Chain;
use pdgate::crypto::{Kek, Keys, RootSecret};
use pdgate::policy::Policy;
use pdgate::store::{Backend, Store};

#[path = "common.rs"]
mod common;
use common::writes;

fn vault(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let s = Store::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
            .await
            .unwrap();
        s.migrate().await.unwrap();
        s
    });
    let policy =
        Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/policies")).unwrap();
    let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
    let mut chain = Chain::new("bench");
    let mut seed = 0u64;
    let mut g = c.benchmark_group("vault_sqlite_full");
    g.sample_size(20);
    for n in [1usize, 32] {
        g.bench_function(format!("commit_batch_of_{n}_intakes"), |b| {
            b.iter_batched(
                || writes(&policy, &keys, n, &mut seed),
                |batch| black_box(rt.block_on(store.commit_batch(&batch, &mut chain)).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    // What the hash-chained audit entries cost an intake batch (issue 3: at most 5 %).
    g.bench_function("commit_batch_of_32_intakes_without_audit", |b| {
        b.iter_batched(
            || {
                let mut w = writes(&policy, &keys, 32, &mut seed);
                for x in &mut w {
                    x.audit.clear();
                }
                w
            },
            |batch| black_box(rt.block_on(store.commit_batch(&batch, &mut chain)).unwrap()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, vault);
criterion_main!(benches);
