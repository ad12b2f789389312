//! KEK rotation through the real binary (issue 28): `pdgate keys rotate` beside a serving replica
//! under intake, killed with SIGKILL half-way and run again; afterwards the new KEK alone serves
//! every value the upstream ever received, and the old KEK no longer starts a replica.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pdgate_testkit::{bin, cli, get, post, Db, Gateway, Opts, Upstream};

const JSON: &str = "application/json";
const NEW_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

fn checkout(n: u64) -> String {
    pdgate_testkit::checkout_body(&format!("rotate{n}@mail.ru"), n)
}

/// `(token, total)` of every checkout the upstream received.
fn received(up: &Upstream) -> Vec<(String, u64)> {
    up.requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .map(|b| {
            (
                b["email"].as_str().unwrap().to_owned(),
                b["total"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn status(gw: &Gateway) -> serde_json::Value {
    serde_json::from_slice(&cli(gw, &["keys", "status"], &[])).unwrap()
}

/// Data keys still wrapped under version 1.
fn left_under_v1(status: &serde_json::Value) -> i64 {
    status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .map_or(0, |v| v["data_keys"].as_i64().unwrap())
}

/// Points the config at `key` as the KEK and `previous` (if any) as the previous one.
fn set_keys(gw: &Gateway, key: &str, previous: Option<&str>) {
    let config = std::fs::read_to_string(&gw.config_path).unwrap();
    let mut kept: Vec<String> = config
        .lines()
        .filter(|l| !l.starts_with("key_file") && !l.starts_with("previous_key_file"))
        .map(str::to_owned)
        .collect();
    let mut top = vec![format!("key_file = \"{}\"", gw.dir.join(key).display())];
    if let Some(p) = previous {
        top.push(format!(
            "previous_key_file = \"{}\"",
            gw.dir.join(p).display()
        ));
    }
    // Top-level keys go before any table.
    top.append(&mut kept);
    std::fs::write(&gw.config_path, top.join("\n") + "\n").unwrap();
}

async fn restart(gw: &mut Gateway) {
    gw.signal("-TERM");
    gw.wait_exit().await;
    gw.spawn().await;
}

async fn a_rotation_killed_half_way_resumes_and_the_new_key_alone_serves_everything(db: Db) {
    let up = Upstream::start(Duration::ZERO).await;
    let Some(mut gw) = Gateway::start(Opts::new(db).with_admin_tokens(), &up.url()).await else {
        return;
    };
    for n in 0..40 {
        let r = post(&gw.url("/api/checkout"), JSON, checkout(n)).await;
        assert_eq!(r.status, 200);
    }
    // The replica restarts on the new KEK with the old one as the previous KEK.
    std::fs::write(gw.dir.join("kek2.hex"), NEW_KEY).unwrap();
    set_keys(&gw, "kek2.hex", Some("kek.hex"));
    restart(&mut gw).await;
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
    // On PostgreSQL, a second replica left on the old KEK alone (never restarted).
    let stale = match db {
        Db::Postgres => {
            let mut o = Opts::new(db);
            o.database_url = Some(gw.database_url.clone());
            Some(Gateway::start(o, &up.url()).await.unwrap())
        }
        Db::Sqlite => None,
    };
    // Intake goes on during the whole rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (url, stop) = (gw.url("/api/checkout"), stop.clone());
        tokio::spawn(async move {
            let mut n = 1_000;
            while !stop.load(Ordering::Relaxed) {
                let r = post(&url, JSON, checkout(n)).await;
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                n += 1;
            }
        })
    };
    // One subject per transaction with a rest between them: killed after a few, the rotation
    // has certainly not finished.
    let mut first = Command::new(bin())
        .args([
            "keys",
            "rotate",
            "--batch",
            "1",
            "--pause-ms",
            "30",
            "--config",
        ])
        .arg(&gw.config_path)
        .env_remove("PDGATE_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let progress = BufReader::new(first.stderr.take().unwrap());
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        progress.lines().map_while(Result::ok).take(5).collect()
    })
    .await
    .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(lines.len(), 5, "{lines:?}");
    let half = status(&gw);
    assert_eq!(half["current"], 2, "the root secret moved first: {half}");
    assert!(
        left_under_v1(&half) > 0 && half["complete"] == false,
        "the kill left work: {half}"
    );
    // Run again: it resumes and finishes, while intake goes on.
    let done: serde_json::Value =
        serde_json::from_slice(&cli(&gw, &["keys", "rotate"], &[])).unwrap();
    assert_eq!(done["retired"], true, "{done}");
    assert_eq!(done["unopenable"], 0, "{done}");
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    if let Some(stale) = &stale {
        stale_replica_fails_closed(stale, &up).await;
    }
    let after = status(&gw);
    assert_eq!(after["complete"], true, "{after}");
    assert_eq!(left_under_v1(&after), 0, "{after}");
    assert!(after["versions"][0]["retired_at"].is_string(), "{after}");

    // The old KEK is destroyed: the new one alone serves every value the upstream received.
    set_keys(&gw, "kek2.hex", None);
    std::fs::remove_file(gw.dir.join("kek.hex")).unwrap();
    restart(&mut gw).await;
    assert_eq!(get(&gw.admin_url("/readyz")).await.status, 200);
    let got = received(&up);
    assert!(
        got.len() > 40,
        "intake ran during the rotation: {}",
        got.len()
    );
    let svc = pdgate_testkit::token(&gw, "service", Some("crm"));
    for chunk in got.chunks(500) {
        let tokens: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
        let d = pdgate_testkit::detokenize(&gw, &svc, "order_fulfilment", &tokens).await;
        let expected: Vec<String> = chunk
            .iter()
            .map(|(_, n)| format!("rotate{n}@mail.ru"))
            .collect();
        assert_eq!(pdgate_testkit::outcomes(&d), expected);
    }
    // And the old KEK no longer opens the key ring.
    std::fs::write(gw.dir.join("kek.hex"), pdgate_testkit::KEY_HEX).unwrap();
    set_keys(&gw, "kek.hex", None);
    gw.signal("-TERM");
    gw.wait_exit().await;
    let old = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&gw.config_path)
        .env_remove("PDGATE_KEY")
        .output()
        .unwrap();
    assert!(!old.status.success());
    let said = String::from_utf8_lossy(&old.stderr);
    assert!(said.contains("KEK version 2"), "{said}");
}

/// A replica still on the old KEK after the rotation: not ready, and a new person's form is
/// refused without reaching the upstream (its key would be wrapped under the rotated-away KEK).
async fn stale_replica_fails_closed(stale: &Gateway, up: &Upstream) {
    let ready = get(&stale.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["reason"], "key_rotated", "{}", ready.json());
    let before = up.requests().len();
    let r = post(&stale.url("/api/checkout"), JSON, checkout(999_999)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        !up.requests()[before..]
            .iter()
            .any(|q| String::from_utf8_lossy(&q.body).contains("999999")),
        "the stale replica forwarded the form"
    );
}

pdgate_testkit::both_backends! {
    rotation => a_rotation_killed_half_way_resumes_and_the_new_key_alone_serves_everything;
}

/// The KEK in use when a backup was taken is its epoch key: a subject erased after the backup
/// stays readable in it while that KEK exists, and nothing in it is readable once a rotation has
/// moved the vault off that KEK and the KEK is destroyed.
#[tokio::test]
async fn a_backup_is_unreadable_once_its_kek_is_rotated_away_and_destroyed() {
    use pdgate::crypto::{Kek, Keys, RootSecret};
    use sqlx::Connection;
    let up = Upstream::start(Duration::ZERO).await;
    let Some(mut gw) = Gateway::start(Opts::new(Db::Sqlite).with_admin_tokens(), &up.url()).await
    else {
        return;
    };
    assert_eq!(
        post(&gw.url("/api/checkout"), JSON, checkout(1))
            .await
            .status,
        200
    );
    let file = gw.dir.join("backup.db");
    let made: serde_json::Value =
        serde_json::from_slice(&cli(&gw, &["backup"], &["--out", file.to_str().unwrap()])).unwrap();
    assert_eq!(made["kek_versions"], serde_json::json!([1]), "{made}");
    // The person is erased from the live vault after the backup.
    let dpo = pdgate_testkit::token(&gw, "dpo", None);
    let r = pdgate_testkit::authed(
        "POST",
        &gw.admin_url("/admin/v1/requests"),
        &dpo,
        serde_json::json!({"type": "erasure", "subject": {"email": "rotate1@mail.ru"}}).to_string(),
    )
    .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/requests/{id}/fulfil");
    let done = pdgate_testkit::authed("POST", &gw.admin_url(&path), &dpo, "").await;
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));

    // What the backup holds: the root secret and the erased person's data key, wrapped.
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .read_only(true);
    let mut copy = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let root: Vec<u8> = sqlx::query_scalar("SELECT wrapped_root FROM keyring")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    let (sid, dek): (Vec<u8>, Vec<u8>) = sqlx::query_as("SELECT id, wrapped_dek FROM subjects")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    copy.close().await.unwrap();
    let old = || Kek::parse(pdgate_testkit::KEY_HEX, 1).unwrap();
    let opened = RootSecret::unwrap(&old(), &root).unwrap();
    assert!(
        Keys::derive(old(), &opened).unwrap_dek(&sid, &dek).is_ok(),
        "while the old KEK exists, the backup still opens the erased person"
    );

    // Rotate to a new KEK and destroy the old one.
    std::fs::write(gw.dir.join("kek2.hex"), NEW_KEY).unwrap();
    set_keys(&gw, "kek2.hex", Some("kek.hex"));
    restart(&mut gw).await;
    let done: serde_json::Value =
        serde_json::from_slice(&cli(&gw, &["keys", "rotate"], &[])).unwrap();
    assert_eq!(done["retired"], true, "{done}");
    std::fs::remove_file(gw.dir.join("kek.hex")).unwrap();
    let new = Kek::parse(NEW_KEY, 2).unwrap();
    assert!(
        RootSecret::unwrap(&new, &root).is_err(),
        "the new KEK does not open the backup's root secret"
    );
    // Not even with the live vault's root secret: the data key needs the destroyed KEK.
    let live = Keys::derive(Kek::parse(NEW_KEY, 2).unwrap(), &opened);
    assert!(live.unwrap_dek(&sid, &dek).is_err());
}
