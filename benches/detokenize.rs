//! Criterion benchmark of detokenize's work per batch: resolving 100 tokens for a purpose on
//! SQLite — set-based reads (values, subjects, consents), the SPEC 6 checks, DEK unwraps and
//! AES-GCM opens. Run: `cargo bench --bench detokenize`.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pdgate::audit::Chain;
use pdgate::crypto::{Kek, Keys, RootSecret};
use pdgate::forms::urlencoded;
use pdgate::intake::{self, RequestFacts, SubjectCtx};
use pdgate::policy::Policy;
use pdgate::store::{Backend, IntakeOutcome, Store, SubjectWrite};

fn detokenize(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy =
        Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/policies")).unwrap();
    let keys = Keys::derive(Kek::generate(1), &RootSecret::generate());
    let route = policy.routes.iter().find(|r| r.id == "bench_form").unwrap();
    let limits = pdgate::config::Limits::default().codec();
    // 2,000 subjects with a consent each: 100-token batches touch 50 subjects (e-mail + phone).
    let (store, tokens) = rt.block_on(async {
        let store = Store::open(&format!("sqlite://{}", dir.path().join("d.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut chain = Chain::new("bench");
        let mut tokens = Vec::new();
        for chunk in 0..20 {
            let batch: Vec<_> = (0..100)
                .map(|i| {
                    let n = chunk * 100 + i;
                    let form = format!("email=user{n}%40mail.ru&phone=%2B7916{n:07}&name=Ivan&address=Moscow&comment=hi&sku=A1&qty=2&total=1990&source=ads&subscribe=on");
                    let leaves = urlencoded::parse(form.as_bytes(), &limits).unwrap();
                    let eval = intake::evaluate(&policy, route, &leaves).unwrap();
                    let id = pdgate::records::SubjectId::new_v7();
                    let (dek, wrapped) = keys.new_dek(&id);
                    let key = eval.subject_key.as_ref().map(|(k, v)| pdgate::actions::blind_index(&keys, *k, v));
                    let subject = SubjectCtx { write: SubjectWrite::New { id, key, wrapped_dek: wrapped, kek_version: 1 }, dek };
                    let facts = RequestFacts { now: pdgate::now_millis(), request_id: "r", client_ip: None, user_agent: None, origin: None };
                    let mut plan = intake::plan(&policy, route, &eval, &leaves, &keys, subject, facts);
                    std::mem::take(&mut plan.write)
                })
                .collect();
            for o in store.commit_batch(&batch, &mut chain).await.unwrap() {
                if let IntakeOutcome::Committed(c) = o {
                    tokens.extend(c.tokens.into_iter().take(2));
                }
            }
        }
        (store, tokens)
    });
    let purpose = policy
        .purposes
        .iter()
        .position(|p| p.def.id == "marketing")
        .unwrap();
    let mut g = c.benchmark_group("detokenize_sqlite");
    g.throughput(Throughput::Elements(100));
    g.sample_size(30);
    let mut at = 0usize;
    g.bench_function("resolve_100_tokens", |b| {
        b.iter(|| {
            let batch: Vec<&str> = tokens[at..at + 100]
                .iter()
                .map(pdgate::records::Token::as_str)
                .collect();
            at = (at + 100) % (tokens.len() - 100);
            let out = rt
                .block_on(pdgate::purpose::resolve(
                    &store,
                    &keys,
                    &policy,
                    purpose,
                    &batch,
                    pdgate::now_millis(),
                ))
                .unwrap();
            black_box(out)
        })
    });
    g.finish();
}

criterion_group!(benches, detokenize);
criterion_main!(benches);
