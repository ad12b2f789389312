//! Shared by the benchmarks: realistic intakes of the bench form, ready to commit.
#![allow(dead_code)] // each benchmark uses part of it
#![allow(clippy::unwrap_used)] // a benchmark that cannot set up should stop loudly

use pdgate::crypto::Keys;
use pdgate::forms::{urlencoded, CodecLimits};
use pdgate::intake::{self, RequestFacts, SubjectCtx};
use pdgate::policy::Policy;
use pdgate::store::{IntakeWrite, SubjectWrite};

fn limits() -> CodecLimits {
    pdgate::config::Limits::default().codec()
}

pub(crate) fn writes(policy: &Policy, keys: &Keys, n: usize, seed: &mut u64) -> Vec<IntakeWrite> {
    let route = policy.routes.iter().find(|r| r.id == "bench_form").unwrap();
    (0..n)
        .map(|_| {
            *seed += 1;
            let form = format!(
                "email=user{seed}%40mail.ru&phone=%2B7916{:07}&name=Ivan&address=Moscow&comment=call+8+916+765-43-21&sku=A1&qty=2&total=1990&source=ads&subscribe=on",
                *seed % 10_000_000
            );
            let leaves = urlencoded::parse(form.as_bytes(), &limits()).unwrap();
            let eval = intake::evaluate(policy, route, &leaves).unwrap();
            let id = pdgate::records::SubjectId::new_v7();
            let (dek, wrapped) = keys.new_dek(&id);
            let key = eval.subject_key.as_ref().map(|(k, v)| pdgate::actions::blind_index(keys, *k, v));
            let subject = SubjectCtx { write: SubjectWrite::New { id, key, wrapped_dek: wrapped, kek_version: i64::from(keys.kek().version()) }, dek };
            let facts = RequestFacts { now: 1_700_000_000_000, request_id: "r", client_ip: None, user_agent: None, origin: None };
            let mut plan = intake::plan(policy, route, &eval, &leaves, keys, subject, facts);
            std::mem::take(&mut plan.write)
        })
        .collect()
}
