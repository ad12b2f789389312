//! A webhook receiver that is down for hours (issue 22), lived through on pdgate's own clock:
//! pdgate runs under libfaketime with its clock read from a file the test moves forward, so six
//! hours of retries take seconds. Each erasure webhook stays queued, is retried on the documented
//! schedule (2 s, doubling, at most an hour apart), shows in the backlog metrics with its age,
//! never makes the replica unready, and is delivered once when the receiver is back.
//!
//! Needs libfaketime (Debian package `faketime`); without it the test is reported as ignored.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pdgate_testkit::{authed, get, post, Db, Gateway, Opts, Upstream};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const HOOK_SECRET: &str = "webhook-secret-0123456789abcdef-0123456789";
const HOURS: i64 = 6;

pub(crate) fn trial() -> libtest_mimic::Trial {
    let missing = (!Path::new(LIBFAKETIME).exists())
        .then(|| format!("{LIBFAKETIME} is missing (apt-get install faketime)"));
    pdgate_testkit::tool_trial(
        "a_webhook_receiver_down_for_hours_gets_its_events_when_back",
        missing,
        a_webhook_receiver_down_for_hours_gets_its_events_when_back,
    )
}

/// A receiver that answers 503 while `down`, and keeps the signature time (pdgate's clock, unix
/// seconds) and outcome of every call.
struct Receiver {
    url: String,
    down: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<(i64, bool)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/privacy/erase", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(true));
        let calls: Arc<Mutex<Vec<(i64, bool)>>> = Arc::default();
        let (d, c) = (down.clone(), calls.clone());
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                let (d, c) = (d.clone(), c.clone());
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (d, c) = (d.clone(), c.clone());
                    async move {
                        let t = req.headers()["x-pdgate-signature"].to_str().unwrap()[2..]
                            .split(',')
                            .next()
                            .unwrap()
                            .parse::<i64>()
                            .unwrap();
                        let _ = req.into_body().collect().await;
                        let up = !d.load(Ordering::SeqCst);
                        c.lock().unwrap().push((t, up));
                        let status = if up { 200 } else { 503 };
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(s), svc)
                        .into_owned(),
                );
            }
        });
        Receiver { url, down, calls }
    }

    fn calls(&self) -> Vec<(i64, bool)> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (in real time) until the receiver has seen `n` calls.
    async fn wait_for(&self, n: usize) -> Vec<(i64, bool)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(Instant::now() < deadline, "no call {n}: {calls:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// pdgate's clock: the real one plus an offset the test moves forward.
struct Clock {
    file: PathBuf,
    offset_s: i64,
}

impl Clock {
    fn forward(&mut self, s: i64) {
        self.offset_s += s;
        std::fs::write(&self.file, format!("{:+}", self.offset_s)).unwrap();
    }
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_secs() as i64
}

/// The time outside any fake clock this test may run under.
fn real_unix_now() -> i64 {
    pdgate_testkit::number_from(
        std::process::Command::new("date")
            .arg("+%s")
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME"),
    )
}

/// The documented wait after attempt `k` (0-based), in seconds.
fn backoff_s(k: u32) -> i64 {
    (2i64 << k.min(21)).min(3600)
}

async fn gauge(gw: &Gateway, name: &str) -> f64 {
    let m = get(&gw.admin_url("/metrics")).await;
    let text = String::from_utf8_lossy(&m.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

async fn a_webhook_receiver_down_for_hours_gets_its_events_when_back() {
    let up = Upstream::start(Duration::ZERO).await;
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Starts where this test's clock is (a tests/at-date.sh run fakes it too), so the tokens it
    // issues are current for pdgate.
    let mut clock = Clock {
        file: dir.path().join("clock"),
        offset_s: 0,
    };
    clock.forward(unix_now() - real_unix_now());
    std::fs::write(dir.path().join("hook.secret"), HOOK_SECRET).unwrap();
    let mut opts = Opts::new(Db::Sqlite).with_admin_tokens();
    opts.extra_config = format!(
        "[webhooks]\nsecret_file = \"{}\"\npoll_ms = 100\n",
        dir.path().join("hook.secret").display()
    );
    let hook_url = hook.url.clone();
    opts.policy_edit = Box::new(move |_, t| {
        t.replace(
            "erasure_webhook: \"/privacy/erase\"",
            &format!("erasure_webhook: \"{hook_url}\""),
        )
    });
    opts.env = vec![
        ("LD_PRELOAD".into(), LIBFAKETIME.into()),
        // Under tests/at-date.sh the test's own fake clock would win over the file.
        ("FAKETIME".into(), String::new()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            clock.file.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ];
    let gw = Gateway::start(opts, &up.url()).await.unwrap();

    let email = "down.for.hours@mail.ru";
    let form = serde_json::json!({"email": email, "name": "Долгий Простой", "subscribe": "on"});
    let r = post(
        &gw.url("/api/checkout"),
        "application/json",
        form.to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    let dpo = pdgate_testkit::token(&gw, "dpo", None);
    let created = authed(
        "POST",
        &gw.admin_url("/admin/v1/requests"),
        &dpo,
        serde_json::json!({"type": "erasure", "subject": {"email": email}}).to_string(),
    )
    .await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let url = gw.admin_url(&format!("/admin/v1/requests/{id}/fulfil"));
    assert_eq!(authed("POST", &url, &dpo, "").await.status, 200);

    // Down: each retry waits its turn on pdgate's clock, then comes after the clock moves on.
    let mut calls = hook.wait_for(1).await;
    let mut k = 0u32;
    while calls.last().unwrap().0 - calls[0].0 < HOURS * 3600 {
        if backoff_s(k) >= 8 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(hook.calls().len(), calls.len(), "retried before its time");
        }
        clock.forward(backoff_s(k) + 1);
        calls = hook.wait_for(calls.len() + 1).await;
        let gap = calls[calls.len() - 1].0 - calls[calls.len() - 2].0;
        assert!(
            (backoff_s(k)..backoff_s(k) + 10).contains(&gap),
            "attempt {} came {gap} s after the one before: {calls:?}",
            k + 1
        );
        k += 1;
    }
    assert!(calls.iter().all(|(_, delivered)| !delivered));
    assert_eq!(gauge(&gw, "pdgate_outbox_backlog").await, 1.0);
    let age = gauge(&gw, "pdgate_outbox_oldest_undelivered_seconds").await;
    assert!(age >= (HOURS * 3600) as f64, "age {age}");
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 200, "a receiver down does not unready pdgate");
    eprintln!(
        "{} attempts over {} h of pdgate's clock, the last {} s apart",
        calls.len(),
        (calls.last().unwrap().0 - calls[0].0) / 3600,
        backoff_s(k - 1)
    );

    // Back: the next attempt delivers, once, and the backlog empties.
    hook.down.store(false, Ordering::SeqCst);
    clock.forward(backoff_s(k) + 1);
    let calls = hook.wait_for(calls.len() + 1).await;
    assert!(calls.last().unwrap().1, "delivered once back");
    let deadline = Instant::now() + Duration::from_secs(10);
    while gauge(&gw, "pdgate_outbox_backlog").await != 0.0 {
        assert!(Instant::now() < deadline, "the backlog did not empty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    clock.forward(3 * 3600);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.calls().len(), calls.len(), "no delivery after success");
    assert!(
        !gw.log().contains(email),
        "the e-mail never reaches the log"
    );
}
