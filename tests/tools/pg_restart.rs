//! PostgreSQL stopped and started again under intake load (issue 22), on a cluster of the test's
//! own (initdb in a temp dir, its own port), so the shared server the other suites use is never
//! touched. While the server is down intakes get 503 and are not forwarded, readiness is false;
//! once it is back both return by themselves, and every token the upstream received detokenizes
//! to the value that was sent. The server is stopped with `-m immediate` (a crash: no shutdown
//! checkpoint), so what was committed before must survive crash recovery.
//!
//! Needs PostgreSQL's server binaries (initdb, pg_ctl); without them the test is reported as
//! ignored.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pdgate_testkit::{get, post, Db, Gateway, Opts, Upstream};

pub(crate) fn trial() -> libtest_mimic::Trial {
    let missing = pg_bin().is_none().then(|| {
        "PostgreSQL's server binaries (initdb, pg_ctl) are missing (apt-get install postgresql)"
            .to_owned()
    });
    pdgate_testkit::tool_trial(
        "postgres_stopped_and_started_under_intake_load",
        missing,
        postgres_stopped_and_started_under_intake_load,
    )
}

/// The newest `/usr/lib/postgresql/<version>/bin` with initdb and pg_ctl.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
    });
    dirs.pop()
}

/// A throwaway PostgreSQL cluster; stopped and removed on drop.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Runs a server binary as `postgres` when the test runs as root (initdb refuses root).
fn pg(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut cmd = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin().unwrap();
        let dir = tempfile::tempdir().unwrap();
        if Command::new("id").arg("-u").output().unwrap().stdout == b"0\n" {
            let uid = |flag: &str| -> u32 {
                pdgate_testkit::number_from(Command::new("id").args([flag, "postgres"]))
            };
            std::os::unix::fs::chown(dir.path(), Some(uid("-u")), Some(uid("-g"))).unwrap();
        }
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = data.display().to_string();
        pg(
            &bin,
            "initdb",
            &[
                "-D",
                &d,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let c = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        c.ctl(&["start"]);
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl <args>` on this cluster, waiting for it to finish.
    fn ctl(&self, args: &[&str]) {
        let (d, log) = (
            self.data.display().to_string(),
            self.data.join("server.log").display().to_string(),
        );
        let sock = self.data.display().to_string();
        let opts = format!(
            "-p {} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let mut all = vec!["-D", &d, "-l", &log, "-o", &opts, "-w"];
        all.extend_from_slice(args);
        pg(&self.bin, "pg_ctl", &all);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.data.display().to_string();
        let _ = std::panic::catch_unwind(|| {
            pg(&self.bin, "pg_ctl", &["-D", &d, "-m", "immediate", "stop"])
        });
    }
}

/// What the load saw: each intake's e-mail, status, when it was answered and how long it took.
type Seen = Arc<Mutex<Vec<(String, u16, Instant, Duration)>>>;

/// Posts distinct intakes from `workers` tasks until `stop` is set.
fn load(
    gw: &Gateway,
    workers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (Seen, Vec<tokio::task::JoinHandle<()>>) {
    let seen: Seen = Arc::default();
    let tasks = (0..workers)
        .map(|w| {
            let (url, seen, stop) = (gw.url("/api/checkout"), seen.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let email = format!("restart.{w}.{i}@mail.ru");
                    let form =
                        serde_json::json!({"email": email, "name": "Рестарт", "subscribe": "on"});
                    let sent = Instant::now();
                    let r = post(&url, "application/json", form.to_string()).await;
                    let took = sent.elapsed();
                    seen.lock()
                        .unwrap()
                        .push((email, r.status.as_u16(), Instant::now(), took));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    (seen, tasks)
}

async fn postgres_stopped_and_started_under_intake_load() {
    let cluster = Cluster::start();
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite).with_admin_tokens();
    opts.database_url = Some(cluster.url());
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, tasks) = load(&gw, 4, stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stopped_at = Instant::now();
    cluster.ctl(&["-m", "immediate", "stop"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503, "not ready while the server is down");
    assert_eq!(ready.json()["reason"], "store_unavailable");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "readiness answered in {:?}",
        asked.elapsed()
    );
    let forwarded_while_down = up.requests().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        up.requests().len(),
        forwarded_while_down,
        "nothing forwarded while down"
    );
    let started_at = Instant::now();
    cluster.ctl(&["start"]);
    let back = loop {
        let after: Vec<Instant> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s, at, _)| *s == 200 && *at > started_at)
            .map(|(_, _, at, _)| *at)
            .collect();
        if let Some(first) = after.first() {
            break first.duration_since(started_at);
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(20),
            "no intake committed after the restart:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let ready = get(&gw.admin_url("/readyz")).await;
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );

    let seen = seen.lock().unwrap().clone();
    let statuses: std::collections::BTreeMap<u16, usize> =
        seen.iter().fold(Default::default(), |mut m, (_, s, _, _)| {
            *m.entry(*s).or_default() += 1;
            m
        });
    eprintln!(
        "statuses {statuses:?}; down {:?}; first commit {back:?} after the start",
        started_at - stopped_at
    );
    let slowest = seen.iter().map(|(_, _, _, took)| *took).max().unwrap();
    eprintln!("slowest answer {slowest:?}");
    assert!(
        slowest < Duration::from_secs(8),
        "an intake waited {slowest:?}"
    );
    assert!(
        statuses.keys().all(|s| [200, 503].contains(s)),
        "only 200 or 503: {statuses:?}"
    );
    assert!(
        statuses.get(&503).is_some_and(|n| *n > 0),
        "the outage was seen: {statuses:?}"
    );
    let ok = statuses[&200];
    assert_eq!(
        up.requests().len(),
        ok,
        "each committed intake forwarded once, no other"
    );

    // Every token the upstream received comes back as the value that was sent.
    let crm = pdgate_testkit::token(&gw, "service", Some("crm"));
    let tokens = pdgate_testkit::forwarded_emails(&up);
    let sent: std::collections::BTreeSet<&str> = seen
        .iter()
        .filter(|(_, s, _, _)| *s == 200)
        .map(|(e, _, _, _)| e.as_str())
        .collect();
    for chunk in tokens.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let got = pdgate_testkit::outcomes(
            &pdgate_testkit::detokenize(&gw, &crm, "order_fulfilment", &refs).await,
        );
        assert_eq!(got.len(), refs.len());
        for v in &got {
            assert!(
                sent.contains(v.as_str()),
                "{v} was not an acknowledged intake"
            );
        }
    }
}
