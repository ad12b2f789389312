//! Several replicas on one PostgreSQL (issue 28): two `serve` processes share a database under
//! concurrent intake of the same people. One subject and one token per person whichever replica
//! took the form; every token detokenizes through either; sweeps never overlap and the survivor
//! keeps sweeping once the other is killed; each webhook event is delivered once; both audit
//! chains verify.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pdgate_testkit::{authed, cli, detokenize, outcomes, post, token, Db, Gateway, Opts, Upstream};

const PEOPLE: u64 = 8;
const POSTS_EACH: u64 = 6;

fn opts(hook: &str, secret: &std::path::Path, database_url: Option<String>) -> Opts {
    let mut o = Opts::new(Db::Postgres).with_admin_tokens();
    o.database_url = database_url;
    o.extra_config = format!(
        "[retention]\ninterval_s = 1\n[webhooks]\nsecret_file = \"{}\"\npoll_ms = 100\n",
        secret.display()
    );
    let hook = hook.to_owned();
    o.policy_edit = Box::new(move |_, t| {
        t.replace(
            "erasure_webhook: \"/privacy/erase\"",
            &format!("erasure_webhook: \"{hook}/privacy/erase\""),
        )
    });
    o
}

fn checkout(person: u64, n: u64) -> String {
    pdgate_testkit::checkout_body(&format!("person{person}@mail.ru"), person * 1000 + n)
}

/// `(started_at, finished_at)` of every sweep (`finished`: only those that finished), in start
/// order.
async fn sweeps(database_url: &str, finished: bool) -> Vec<(i64, i64)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT started_at, finished_at FROM sweeps WHERE status = 'finished' OR NOT $1 \
         ORDER BY started_at",
    )
    .bind(finished)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    pdgate_no_test_db,
    ignore = "PDGATE_TEST_DATABASE_URL was not set at build time"
)]
async fn two_replicas_share_one_postgres() {
    let up = Upstream::start(Duration::ZERO).await;
    let hook = Upstream::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "webhook-secret-0123456789abcdef-0123456789").unwrap();
    let Some(mut a) = Gateway::start(opts(&hook.url(), &secret, None), &up.url()).await else {
        return;
    };
    let b_opts = opts(&hook.url(), &secret, Some(a.database_url.clone()));
    let b = Gateway::start(b_opts, &up.url()).await.unwrap();

    // The same people through both replicas at once.
    let posts: Vec<_> = (0..PEOPLE)
        .flat_map(|p| (0..POSTS_EACH).map(move |n| (p, n)))
        .map(|(p, n)| {
            let url = if n % 2 == 0 {
                a.url("/api/checkout")
            } else {
                b.url("/api/checkout")
            };
            tokio::spawn(async move { post(&url, "application/json", checkout(p, n)).await })
        })
        .collect();
    for p in posts {
        let r = p.await.unwrap();
        assert_eq!(
            r.status,
            200,
            "{}\n{}\n{}",
            String::from_utf8_lossy(&r.body),
            a.log(),
            b.log()
        );
    }
    let mut tokens: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut subjects: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for r in up.requests() {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let person = body["total"].as_u64().unwrap() / 1000;
        tokens
            .entry(person)
            .or_default()
            .insert(body["email"].as_str().unwrap().into());
        subjects
            .entry(person)
            .or_default()
            .insert(r.header("x-pdgate-subject").unwrap());
    }
    assert_eq!(tokens.len() as u64, PEOPLE);
    for p in 0..PEOPLE {
        assert_eq!(tokens[&p].len(), 1, "one token per value: {:?}", tokens[&p]);
        assert_eq!(
            subjects[&p].len(),
            1,
            "one subject per person: {:?}",
            subjects[&p]
        );
    }
    let all: Vec<&str> = tokens.values().flatten().map(String::as_str).collect();
    let expected: Vec<String> = (0..PEOPLE).map(|p| format!("person{p}@mail.ru")).collect();
    for gw in [&a, &b] {
        let svc = token(gw, "service", Some("crm"));
        let d = detokenize(gw, &svc, "order_fulfilment", &all).await;
        assert_eq!(outcomes(&d), expected, "through {}", gw.admin);
    }

    // An erasure fulfilled on one replica: both poll the outbox, the event arrives once.
    let dpo = token(&a, "dpo", None);
    let r = authed(
        "POST",
        &a.admin_url("/admin/v1/requests"),
        &dpo,
        serde_json::json!({"type": "erasure", "subject": {"email": "person0@mail.ru"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let done = authed(
        "POST",
        &b.admin_url(&format!("/admin/v1/requests/{id}/fulfil")),
        &dpo,
        "",
    )
    .await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.requests().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the erasure webhook was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ten more polls of each replica: nothing is delivered twice.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let ids: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.header("x-pdgate-event-id").unwrap())
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        distinct.len(),
        "an event delivered twice: {ids:?}"
    );

    // Sweeps: both replicas try every second, never two at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sweeps(&a.database_url, true).await.len() < 4 {
        assert!(Instant::now() < deadline, "no sweeps ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ran = sweeps(&a.database_url, true).await;
    for w in ran.windows(2) {
        assert!(w[1].0 >= w[0].1, "two sweeps overlapped: {w:?}");
    }
    // The first replica dies: the survivor sweeps on, within two intervals.
    a.kill9();
    let killed = pdgate::now_millis();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let after = sweeps(&b.database_url, false).await;
        if after.iter().any(|(start, _)| *start > killed) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sweep after the other replica died"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Both chains (and the one started by the CLI) verify.
    let file = b.dir.join("audit.jsonl");
    cli(&b, &["audit", "export"], &["--out", file.to_str().unwrap()]);
    let out = std::process::Command::new(pdgate_testkit::bin())
        .args(["audit", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each replica's chain is there and intact.
    for gw in [&a, &b] {
        let writer = gw
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == "vault ready")
            .and_then(|v| v["writer"].as_str().map(str::to_owned))
            .unwrap();
        assert!(
            said.lines()
                .any(|l| l.starts_with(&format!("{writer}: ")) && l.contains(" intact")),
            "{writer} missing from:\n{said}"
        );
    }
}
