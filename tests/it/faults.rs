//! Every fault is temporary, visible and survivable: fault injection against the real binary over
//! real sockets. Each test breaks something under pdgate, asserts only the documented answers,
//! nothing forwarded without its vault entry, readiness false while broken — then repairs it and
//! asserts recovery without a restart.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use pdgate_testkit::{get, post, Db, Gateway, Opts, Upstream};

const JSON: &str = "application/json";

fn checkout(i: usize) -> String {
    serde_json::json!({"email": format!("full.disk{i}@mail.ru"), "name": "Полный Диск", "subscribe": "on"})
        .to_string()
}

/// Posts the same intake until it commits (503 meanwhile, nothing else) and returns how long that
/// took; fails past `within`.
async fn recovers(gw: &Gateway, i: usize, within: Duration) -> Duration {
    let since = Instant::now();
    loop {
        let r = post(&gw.url("/api/checkout"), JSON, checkout(i)).await;
        if r.status == 200 {
            return since.elapsed();
        }
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            since.elapsed() < within,
            "no recovery within {within:?}: {}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SQLite fills up (`sqlite_max_bytes`, SQLite's `max_page_count`: no root needed): intakes get 503
/// and are not forwarded, readiness says why, pass-through and the admin API keep working, the
/// failure is logged once per interval; once space inside the file is freed, intakes commit again
/// and readiness returns, with no restart. (Before, the writer's connection stayed inside the
/// failed transaction and every later commit failed until a restart.)
#[tokio::test]
async fn a_full_database_is_a_state_not_a_crash() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut gw = Gateway::start(Opts::new(Db::Sqlite).with_admin_tokens(), &up.url())
        .await
        .unwrap();
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(0))
            .await
            .status,
        200
    );
    gw.signal("-TERM");
    gw.wait_exit().await;

    // Ballast the test can free later, then a cap a few pages above the file's size.
    let url = gw.database_url.clone();
    let side = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE ballast (b BLOB NOT NULL)")
        .execute(&side)
        .await
        .unwrap();
    for _ in 0..256 {
        sqlx::query("INSERT INTO ballast (b) VALUES (zeroblob(4000))")
            .execute(&side)
            .await
            .unwrap();
    }
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(&side)
        .await
        .unwrap();
    let cap = (pages + 24) * 4096;
    let config = std::fs::read_to_string(&gw.config_path).unwrap();
    std::fs::write(
        &gw.config_path,
        format!("sqlite_max_bytes = {cap}\n{config}"),
    )
    .unwrap();
    gw.spawn().await;

    // Intakes until the cap bites: each is committed and forwarded, or refused and not forwarded.
    let mut committed = 1;
    let mut refused = 0;
    for i in 1..400 {
        let r = post(&gw.url("/api/checkout"), JSON, checkout(i)).await;
        match r.status.as_u16() {
            200 => committed += 1,
            503 => {
                assert_eq!(r.code(), "store_unavailable");
                refused += 1;
                if refused == 20 {
                    break;
                }
            }
            other => panic!("intake {i}: {other} {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert_eq!(refused, 20, "the cap never bit ({committed} committed)");
    assert_eq!(
        up.requests().len(),
        committed,
        "refused intakes are not forwarded"
    );
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503);
    let j = ready.json();
    assert_eq!(
        (j["reason"].as_str(), j["cause"].as_str()),
        (Some("vault_cannot_commit"), Some("disk_full")),
        "{j}"
    );
    // What needs no write keeps working: pass-through, liveness, the admin API's reads.
    assert_eq!(get(&gw.url("/catalog")).await.status, 200);
    assert_eq!(get(&gw.admin_url("/healthz")).await.status, 200);
    let dpo = pdgate_testkit::token(&gw, "dpo", None);
    let metrics = pdgate_testkit::authed("GET", &gw.admin_url("/metrics"), &dpo, "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("pdgate_store_commit_failures_total{reason=\"disk_full\"}")),
        "{text}"
    );
    let register =
        pdgate_testkit::authed("GET", &gw.admin_url("/admin/v1/register"), &dpo, "").await;
    assert_eq!(register.status, 200);
    // One line per interval, not one per refused intake.
    let lines = gw.log().matches("vault writes fail").count();
    assert!(
        (1..=2).contains(&lines),
        "{lines} failure lines for {refused} refusals"
    );
    let refusals = gw.log().matches("refusing requests").count();
    assert!(
        refusals <= 2,
        "{refusals} refusal lines for {refused} refusals"
    );

    // Space back inside the file: intakes commit again and readiness returns, no restart.
    sqlx::query("DELETE FROM ballast")
        .execute(&side)
        .await
        .unwrap();
    side.close().await;
    let took = recovers(&gw, 1000, Duration::from_secs(5)).await;
    eprintln!("intakes commit again {took:?} after space was freed");
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );
    assert!(gw.log().contains("vault writes commit again"));

    // Everything forwarded has its vault entry: each e-mail token comes back.
    let crm = pdgate_testkit::token(&gw, "service", Some("crm"));
    let tokens = pdgate_testkit::forwarded_emails(&up);
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let got = pdgate_testkit::outcomes(
        &pdgate_testkit::detokenize(&gw, &crm, "order_fulfilment", &refs).await,
    );
    assert!(got.iter().all(|v| v.starts_with("full.disk")), "{got:?}");
    gw.signal("-TERM");
    gw.wait_exit().await;
}

/// PostgreSQL turns read-only, as a standby does after a failover (`default_transaction_read_only`
/// on pdgate's database, its sessions restarted): intakes 503 and nothing forwarded, readiness
/// says `read_only`; once writable again (sessions restarted once more), intakes commit and
/// readiness returns, with no restart of pdgate.
#[tokio::test]
#[cfg_attr(
    pdgate_no_test_db,
    ignore = "PDGATE_TEST_DATABASE_URL was not set at build time"
)]
async fn a_read_only_postgres_is_a_state_not_a_crash() {
    let up = Upstream::start(Duration::ZERO).await;
    let gw = Gateway::start(Opts::new(Db::Postgres), &up.url())
        .await
        .unwrap();
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(0))
            .await
            .status,
        200
    );
    let db = gw.database_url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::PgPool::connect(&std::env::var("PDGATE_TEST_DATABASE_URL").unwrap())
        .await
        .unwrap();
    let set_read_only = |on: bool| {
        let (admin, db) = (admin.clone(), db.clone());
        async move {
            let value = if on { "on" } else { "off" };
            sqlx::raw_sql(&format!(
                "ALTER DATABASE \"{db}\" SET default_transaction_read_only = {value}"
            ))
            .execute(&admin)
            .await
            .unwrap();
            // Existing sessions keep their setting: restart them, as a failover does.
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                .bind(&db)
                .execute(&admin)
                .await
                .unwrap();
        }
    };
    set_read_only(true).await;
    let before = up.requests().len();
    let mut refused = 0;
    for i in 1..=10 {
        let r = post(&gw.url("/api/checkout"), JSON, checkout(i)).await;
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        refused += 1;
    }
    assert_eq!(
        up.requests().len(),
        before,
        "nothing forwarded while read-only"
    );
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["cause"], "read_only", "{}", ready.json());
    assert_eq!(get(&gw.url("/catalog")).await.status, 200);

    set_read_only(false).await;
    let took = recovers(&gw, 100, Duration::from_secs(10)).await;
    eprintln!("intakes commit again {took:?} after {refused} refusals");
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
    admin.close().await;
}

/// A statement that hangs on PostgreSQL (here: a table locked by another session) is cancelled after
/// `pg_statement_timeout_ms`: the intake gets 503 in bounded time and is not forwarded; once the
/// lock is gone, intakes commit again.
#[tokio::test]
#[cfg_attr(
    pdgate_no_test_db,
    ignore = "PDGATE_TEST_DATABASE_URL was not set at build time"
)]
async fn a_hanging_statement_is_bounded() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Postgres);
    opts.extra_config = "pg_statement_timeout_ms = 500\n".into();
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(0))
            .await
            .status,
        200
    );
    let side = sqlx::PgPool::connect(&gw.database_url).await.unwrap();
    let mut lock = side.begin().await.unwrap();
    sqlx::query("LOCK TABLE subjects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    let r = post(&gw.url("/api/checkout"), JSON, checkout(1)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(up.requests().len(), 1, "nothing forwarded");
    lock.rollback().await.unwrap();
    side.close().await;
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(2))
            .await
            .status,
        200
    );
}

/// The upstream takes a committed intake and drops the connection without answering: the client
/// gets a JSON 502, the audit log records the intake as not delivered, and the retry of the same
/// form reaches the upstream with the same token (the vault kept the value; nothing new is minted).
#[tokio::test]
async fn an_intake_the_upstream_dropped_is_recorded_and_its_retry_keeps_the_tokens() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut s, _) = listener.accept().await.unwrap();
            let (mut got, mut buf) = (Vec::new(), vec![0u8; 65536]);
            while !got.ends_with(b"}") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).into_owned());
            if n > 0 {
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = s.write_all(ok).await;
            }
        }
    });
    let gw = Gateway::start(
        Opts::new(Db::Sqlite).with_admin_tokens(),
        &format!("http://{addr}"),
    )
    .await
    .unwrap();
    let first = post(&gw.url("/api/checkout"), JSON, checkout(7)).await;
    assert_eq!(
        first.status,
        502,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert!(!first.code().is_empty(), "a JSON error with a code");
    let retry = post(&gw.url("/api/checkout"), JSON, checkout(7)).await;
    assert_eq!(retry.status, 200);
    let email = |raw: &str| {
        let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
        serde_json::from_str::<serde_json::Value>(body).unwrap()["email"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].contains("full.disk7@"), "tokenized before it left");
    assert_eq!(email(&seen[0]), email(&seen[1]), "the same token on retry");

    let auditor = pdgate_testkit::token(&gw, "auditor", None);
    let audit = pdgate_testkit::authed(
        "GET",
        &gw.admin_url("/admin/v1/audit?format=jsonl"),
        &auditor,
        "",
    )
    .await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&audit.body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["kind"] == "intake_not_delivered")
        .collect();
    assert_eq!(lines.len(), 1, "only the dropped intake");
    assert_eq!(lines[0]["entry"]["event"]["status"], 502);
}

both_backends! {
    a_database_changed_underneath_is_refused_until_it_matches => database_changed_underneath;
}

/// Runs statements on the gateway's database from the side, as an operator restoring a backup
/// underneath a running replica would.
async fn side(url: &str, statements: &[&str]) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(s).execute(&pool).await.unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in statements {
            sqlx::raw_sql(s).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
}

/// Readiness names `reason` and an intake is refused with 503 and not forwarded.
async fn refused_for(gw: &Gateway, up: &Upstream, reason: &str, i: usize) {
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["reason"], reason, "{}", ready.json());
    let before = up.requests().len();
    let r = post(&gw.url("/api/checkout"), JSON, checkout(i)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "store_unavailable");
    assert_eq!(up.requests().len(), before, "nothing forwarded");
    assert_eq!(get(&gw.url("/catalog")).await.status, 200, "pass-through");
}

/// The database is restored or switched underneath a running replica: one missing a migration
/// this binary carries, then one whose key ring is another deployment's. Each time readiness
/// names why, intakes are refused without being tried (nothing forwarded), and both return by
/// themselves once the database matches again. Migrations newer than the binary (a rolling
/// upgrade) are not a mismatch.
async fn database_changed_underneath(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(gw) = Gateway::start(Opts::new(db), &up.url()).await else {
        return;
    };
    let url = gw.database_url.clone();
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(0))
            .await
            .status,
        200
    );

    side(&url, &[
        "CREATE TABLE saved_m AS SELECT * FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT version FROM saved_m)",
    ])
    .await;
    refused_for(&gw, &up, "migrations_pending", 1).await;
    side(
        &url,
        &["INSERT INTO _sqlx_migrations SELECT * FROM saved_m"],
    )
    .await;
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(2))
            .await
            .status,
        200
    );

    let bytes = |n: usize| {
        if db == Db::Postgres {
            format!("decode(repeat('00', {n}), 'hex')")
        } else {
            format!("zeroblob({n})")
        }
    };
    side(
        &url,
        &[
            "CREATE TABLE saved_ring AS SELECT * FROM keyring",
            &format!("UPDATE keyring SET root_id = {}", bytes(32)),
        ],
    )
    .await;
    refused_for(&gw, &up, "key_unavailable", 3).await;
    // Between readiness checks the replica's own check (every 5 s) finds it too.
    side(&url, &[
        "UPDATE keyring SET root_id = (SELECT root_id FROM saved_ring)",
        &format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from a newer release', TRUE, {}, 0)", bytes(1)),
    ])
    .await;
    let took = recovers(&gw, 4, Duration::from_secs(7)).await;
    eprintln!("intakes commit again {took:?} after the key ring was put back");
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
    let log = gw.log();
    assert!(log.contains("\"reason\":\"key_unavailable\""), "{log}");
    assert!(log.contains("writes resume"), "{log}");
}

/// The upstream is down (nothing listens on its port): a committed intake gets a JSON 502, the
/// audit log records it as not delivered, and pass-through answers the same JSON error.
#[tokio::test]
async fn an_upstream_that_is_down_gives_a_json_502() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = Gateway::start(
        Opts::new(Db::Sqlite).with_admin_tokens(),
        &format!("http://127.0.0.1:{port}"),
    )
    .await
    .unwrap();
    let r = post(&gw.url("/api/checkout"), JSON, checkout(5)).await;
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "upstream_unavailable");
    assert!(!String::from_utf8_lossy(&r.body).contains("full.disk5"));
    let pass = get(&gw.url("/catalog")).await;
    assert_eq!(
        (pass.status.as_u16(), pass.code()),
        (502, "upstream_unavailable".to_owned())
    );
    assert_eq!(undelivered(&gw).await, [502]);
}

/// How a scripted upstream ends its answer.
#[derive(Clone, Copy)]
enum Then {
    Close,
    Stall,
}

/// An upstream that reads each request and writes `answer(n, request)` raw (n counts from 0),
/// then closes or stalls; keeps every request it read.
async fn scripted(
    answer: fn(usize, &str) -> (Vec<u8>, Then),
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let (log, count) = (log.clone(), count.clone());
            tokio::spawn(async move {
                let (mut got, mut buf) = (Vec::new(), vec![0u8; 65536]);
                // Heads end with a blank line; these tests' bodies are JSON objects.
                while !(got.ends_with(b"\r\n\r\n") && got.starts_with(b"GET")
                    || got.ends_with(b"}"))
                {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (bytes, then) = answer(n, &text);
                log.lock().unwrap().push(text);
                let _ = s.write_all(&bytes).await;
                if let Then::Stall = then {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    (url, seen)
}

/// The kinds of the audit entries about undelivered intakes, with the status each client got.
async fn undelivered(gw: &Gateway) -> Vec<u64> {
    let auditor = pdgate_testkit::token(gw, "auditor", None);
    let audit = pdgate_testkit::authed(
        "GET",
        &gw.admin_url("/admin/v1/audit?format=jsonl"),
        &auditor,
        "",
    )
    .await;
    String::from_utf8_lossy(&audit.body)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"] == "intake_not_delivered")
        .map(|l| l["entry"]["event"]["status"].as_u64().unwrap())
        .collect()
}

/// The upstream sends its answer's head and part of its body, then resets or stalls. A committed
/// intake's answer is read before any of it goes out, so the client gets a JSON 502 (reset) or
/// 504 (stalled past `upstream_timeout_ms`) — never a truncated page that looks like success —
/// and the audit log records both as not delivered. A pass-through answer is streamed: a reset
/// aborts the client's connection, so the client sees an error there too, never a short body as
/// complete. A long intake answer (past the 256 KiB read ahead) arrives whole.
#[tokio::test]
async fn an_upstream_that_breaks_off_mid_answer_is_a_json_error() {
    // Answers in the order the test sends: reset, stall, long, and the pass-through reset.
    let (url, seen) = scripted(|n, _| {
        let head = |len: usize| {
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {len}\r\n\r\n")
        };
        if n == 0 || n == 3 {
            (
                (head(5000) + "<html><p>Thank you").into_bytes(),
                Then::Close,
            )
        } else if n == 1 {
            ((head(5000) + "<html><p>Thank").into_bytes(), Then::Stall)
        } else {
            let big = "x".repeat(600 << 10);
            ((head(big.len()) + &big).into_bytes(), Then::Close)
        }
    })
    .await;
    let mut opts = Opts::new(Db::Sqlite).with_admin_tokens();
    opts.extra_config = "[limits]\nupstream_timeout_ms = 700\n".into();
    let gw = Gateway::start(opts, &url).await.unwrap();
    let form = |email: &str| {
        serde_json::json!({"email": email, "name": "Обрыв", "subscribe": "on"}).to_string()
    };

    let reset = post(&gw.url("/api/checkout"), JSON, form("reset.me@mail.ru")).await;
    assert_eq!(
        reset.status,
        502,
        "{}",
        String::from_utf8_lossy(&reset.body)
    );
    assert_eq!(reset.code(), "upstream_unavailable");
    let started = Instant::now();
    let stalled = post(&gw.url("/api/checkout"), JSON, form("stall.me@mail.ru")).await;
    assert_eq!(
        stalled.status,
        504,
        "{}",
        String::from_utf8_lossy(&stalled.body)
    );
    assert_eq!(stalled.code(), "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let long = post(&gw.url("/api/checkout"), JSON, form("long.answer@mail.ru")).await;
    assert_eq!(
        (long.status.as_u16(), long.body.len()),
        (200, 600 << 10),
        "a long answer whole"
    );
    assert_eq!(undelivered(&gw).await, [502, 504]);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|r| !r.contains("@mail.ru\"")),
        "every e-mail left tokenized"
    );

    // Pass-through streams: the client's read fails — at the head when the break came before
    // pdgate wrote it, else in the body. Either way no short body ends cleanly.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let read = async {
        let resp = client.get(gw.url("/catalog").parse().unwrap()).await?;
        assert_eq!(resp.status(), 200);
        http_body_util::BodyExt::collect(resp.into_body()).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(
        read.await.is_err(),
        "a truncated pass-through body must not end cleanly"
    );
}
