//! Criterion benchmarks of the per-request work on the intake path: codecs, field actions,
//! detectors, crypto, and the whole decision for a 10-field form with 5 personal fields.
//! Run: `cargo bench --bench hot_path`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pdgate::actions::{self, detect, Kind, TokenShape};
use pdgate::crypto::{Aad, Kek, Keys, RootSecret};
use pdgate::forms::{json, urlencoded, CodecLimits, Output};

fn limits() -> CodecLimits {
    pdgate::config::Limits::default().codec()
}
use pdgate::intake::{self, RequestFacts, SubjectCtx};
use pdgate::policy::Policy;
use pdgate::store::SubjectWrite;

const FORM: &[u8] = b"email=ivan.petrov%40mail.ru&phone=%2B7+916+123-45-67&name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2\
&address=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0%2C+%D1%83%D0%BB.+%D0%9B%D0%B5%D0%BD%D0%B8%D0%BD%D0%B0%2C+1\
&comment=%D0%BF%D0%BE%D0%B7%D0%B2%D0%BE%D0%BD%D0%B8%D1%82%D0%B5+8+916+765-43-21&sku=A1&qty=2&total=1990&source=ads&subscribe=on";

fn keys() -> Keys {
    Keys::derive(Kek::generate(1), &RootSecret::generate())
}

fn codecs(c: &mut Criterion) {
    let mut g = c.benchmark_group("codecs");
    g.throughput(Throughput::Bytes(FORM.len() as u64));
    g.bench_function("urlencoded_parse_encode_10_fields", |b| {
        b.iter(|| {
            let leaves = urlencoded::parse(black_box(FORM), &limits()).unwrap();
            let outs = vec![Output::Keep; leaves.len()];
            black_box(urlencoded::encode(&leaves, &outs))
        })
    });
    let body = serde_json::json!({
        "customer": {"email": "ivan.petrov@mail.ru", "phone": "+79161234567", "name": "Иван Петров"},
        "address": "Москва, ул. Ленина, 1", "comment": "позвоните 8 916 765-43-21",
        "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}], "total": 1990, "subscribe": true
    })
    .to_string();
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("json_parse_encode", |b| {
        b.iter(|| {
            let (doc, leaves) = json::parse(black_box(body.as_bytes()), &limits()).unwrap();
            let outs = vec![Output::Keep; leaves.len()];
            black_box(doc.encode(&outs))
        })
    });
    g.finish();
}

fn actions_and_detectors(c: &mut Criterion) {
    let k = keys();
    let mut g = c.benchmark_group("actions");
    g.bench_function("tokenize_email", |b| {
        b.iter(|| {
            let mac = actions::value_mac(
                &k,
                b"0123456789abcdef",
                TokenShape::Email,
                black_box("ivan.petrov@mail.ru"),
            );
            black_box(actions::token_candidate(
                TokenShape::Email,
                &mac,
                0,
                "ivan.petrov@mail.ru",
                "relay.example",
            ))
        })
    });
    g.bench_function("tokenize_phone", |b| {
        b.iter(|| {
            let mac = actions::value_mac(
                &k,
                b"0123456789abcdef",
                TokenShape::Phone,
                black_box("+79161234567"),
            );
            black_box(actions::token_candidate(
                TokenShape::Phone,
                &mac,
                0,
                "+79161234567",
                "relay.example",
            ))
        })
    });
    g.bench_function("hash", |b| {
        b.iter(|| {
            black_box(actions::hash_value(
                &k,
                Kind::Email,
                black_box("ivan@mail.ru"),
            ))
        })
    });
    g.bench_function("mask_phone", |b| {
        b.iter(|| black_box(actions::mask(Kind::Phone, black_box("+7 916 123-45-67"))))
    });
    let text = "Здравствуйте! Меня зовут Иван, пишите на ivan.petrov@mail.ru или звоните +7 (916) 123-45-67. \
                ИНН 7707083893, карта 4111 1111 1111 1111, заказ №12345 от 01.02.2025, доставка до двери.";
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("detect_free_text", |b| {
        b.iter(|| black_box(detect::detect(black_box(text), "relay.example")))
    });
    g.finish();
}

fn crypto(c: &mut Criterion) {
    let k = keys();
    let (dek, wrapped) = k.new_dek(b"0123456789abcdef");
    let aad = Aad {
        subject: b"0123456789abcdef",
        field: "email",
        purpose: "order_fulfilment",
        scope: Some((Some("contact"), 1_765_233_000_000)),
    };
    let ct = dek.encrypt(b"ivan.petrov@mail.ru", aad);
    let mut g = c.benchmark_group("crypto");
    g.bench_function("aes256gcm_encrypt_field", |b| {
        b.iter(|| black_box(dek.encrypt(black_box(b"ivan.petrov@mail.ru"), aad)))
    });
    g.bench_function("aes256gcm_decrypt_field", |b| {
        b.iter(|| black_box(dek.decrypt(black_box(&ct), aad).unwrap()))
    });
    g.bench_function("unwrap_subject_dek", |b| {
        b.iter(|| {
            black_box(
                k.unwrap_dek(b"0123456789abcdef", black_box(&wrapped))
                    .unwrap(),
            )
        })
    });
    g.bench_function("blind_index_hmac", |b| {
        b.iter(|| {
            black_box(actions::blind_index(
                &k,
                Kind::Email,
                black_box("ivan@mail.ru"),
            ))
        })
    });
    g.finish();
}

fn intake_decision(c: &mut Criterion) {
    let policy =
        Policy::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/policies")).unwrap();
    let route = policy.routes.iter().find(|r| r.id == "bench_form").unwrap();
    let k = keys();
    let leaves = urlencoded::parse(FORM, &limits()).unwrap();
    let facts = RequestFacts {
        now: 1_700_000_000_000,
        request_id: "r",
        client_ip: Some("127.0.0.1".parse().unwrap()),
        user_agent: Some("wrk"),
        origin: None,
    };
    c.bench_function(
        "intake/10_fields_5_personal_evaluate_plan_render_encode",
        |b| {
            b.iter(|| {
                let eval = intake::evaluate(&policy, route, &leaves).unwrap();
                let id = pdgate::records::SubjectId::from(b"0123456789abcdef".to_vec());
                let (dek, wrapped) = k.new_dek(&id);
                let subject = SubjectCtx {
                    write: SubjectWrite::New {
                        id,
                        key: None,
                        wrapped_dek: wrapped,
                        kek_version: 1,
                    },
                    dek,
                };
                let plan = intake::plan(&policy, route, &eval, &leaves, &k, subject, facts);
                let tokens: Vec<pdgate::records::Token> = plan
                    .write
                    .values
                    .iter()
                    .map(|v| v.candidates[0].clone())
                    .collect();
                let outs = intake::render(&plan, &tokens);
                black_box(urlencoded::encode(&leaves, &outs))
            })
        },
    );
}

/// The labelled corpus of tests/detectors (2,000 RU/EN/DE customer messages of 60-300 bytes).
fn corpus_texts() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/detectors/corpus.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Detection over mixed RU/EN/DE text: the corpus's messages one by one, and joined into one
/// 100 KB text (a long comment, a scanned document).
fn detectors(c: &mut Criterion) {
    let texts = corpus_texts();
    let mut g = c.benchmark_group("detect");
    let bytes: usize = texts.iter().map(String::len).sum();
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("short_messages", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(detect::detect(black_box(t), "relay.example"));
            }
        })
    });
    let mut long = String::new();
    for t in texts.iter().cycle() {
        if long.len() >= 100_000 {
            break;
        }
        long.push_str(t);
        long.push('\n');
    }
    g.throughput(Throughput::Bytes(long.len() as u64));
    g.bench_function("text_100k", |b| {
        b.iter(|| black_box(detect::detect(black_box(&long), "relay.example")))
    });
    g.finish();
}

criterion_group!(
    benches,
    codecs,
    detectors,
    actions_and_detectors,
    crypto,
    intake_decision
);
criterion_main!(benches);
