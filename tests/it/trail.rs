//! An audit log no one can shorten unnoticed (issue 28), through the real binary: two processes'
//! chains on one database, their checkpoints also in `[audit] checkpoint_file`; then the newest
//! chain dropped, and the older chain's tail cut, in the database itself, as someone with write
//! access could. `pdgate audit verify` finds both: the cut from the later chain's start, the drop
//! only with the checkpoint file.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pdgate_testkit::{bin, cli, post, Db, Gateway, Opts, Upstream};

fn checkout(n: u64) -> String {
    pdgate_testkit::checkout_body(&format!("trail{n}@mail.ru"), n)
}

/// `pdgate audit verify` of `export`: whether it passed, and what it said.
fn verify(export: &Path, checkpoints: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["audit", "verify"]).arg(export);
    if let Some(c) = checkpoints {
        cmd.arg("--checkpoints").arg(c);
    }
    let out = cmd.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// The whole log exported by the CLI into `name` in the gateway's directory.
fn export(gw: &Gateway, name: &str) -> std::path::PathBuf {
    let file = gw.dir.join(name);
    cli(gw, &["audit", "export"], &["--out", file.to_str().unwrap()]);
    file
}

/// The writers of the chains in an export, oldest chain start first.
fn writers(export: &Path) -> Vec<String> {
    let mut starts: Vec<(i64, String)> = std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"] == "chain_started")
        .map(|l| {
            (
                l["at"].as_i64().unwrap(),
                l["writer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    starts.sort();
    starts.into_iter().map(|(_, w)| w).collect()
}

async fn sql(gw: &Gateway, statement: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&gw.database_url)
        .await
        .unwrap();
    sqlx::query(statement).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_dropped_chain_and_a_cut_tail_are_found() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite);
    opts.extra_config =
        "[audit]\ncheckpoint_entries = 4\ncheckpoint_file = \"CHECKPOINTS\"\n".into();
    let Some((tmp, dir, url)) = pdgate_testkit::prepare(&opts, &up.url()).await else {
        return;
    };
    let checkpoints = dir.join("checkpoints.jsonl");
    let config = std::fs::read_to_string(dir.join("pdgate.toml")).unwrap();
    std::fs::write(
        dir.join("pdgate.toml"),
        config.replace("CHECKPOINTS", checkpoints.to_str().unwrap()),
    )
    .unwrap();
    let mut gw = Gateway::adopt(tmp, dir, url).await;
    // Two processes, one after the other: two chains, the second's start seeing the first.
    for n in 0..20 {
        if n == 10 {
            gw.signal("-TERM");
            gw.wait_exit().await;
            gw.spawn().await;
        }
        assert_eq!(
            post(&gw.url("/api/checkout"), "application/json", checkout(n))
                .await
                .status,
            200
        );
    }
    gw.signal("-TERM");
    gw.wait_exit().await;
    let whole = export(&gw, "whole.jsonl");
    let chains = writers(&whole);
    assert_eq!(chains.len(), 2, "{chains:?}");
    let lines = std::fs::read_to_string(&checkpoints).unwrap();
    for w in &chains {
        assert!(
            lines.contains(w.as_str()),
            "{w}'s checkpoints are in the file:\n{lines}"
        );
    }
    let (ok, said) = verify(&whole, Some(&checkpoints));
    assert!(ok, "{said}");
    assert!(
        said.contains("holds the 1 entries chain starts vouch for"),
        "{said}"
    );

    // The newest chain dropped in the database: what is left is intact and nothing in it saw
    // the dropped chain; only the checkpoint file still knows it.
    sql(
        &gw,
        &format!("DELETE FROM audit_log WHERE writer = '{}'", chains[1]),
    )
    .await;
    let dropped = export(&gw, "dropped.jsonl");
    let (ok, said) = verify(&dropped, None);
    assert!(ok, "without the file the drop cannot be seen: {said}");
    let (ok, said) = verify(&dropped, Some(&checkpoints));
    assert!(
        !ok && said.contains("was dropped") && said.contains(&chains[1]),
        "{said}"
    );

    // The older chain's tail cut: the later chain's start vouches for its last checkpoint.
    let whole_text = std::fs::read_to_string(&whole).unwrap();
    let cut = gw.dir.join("cut.jsonl");
    let first = &chains[0];
    let last_seq = whole_text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["writer"] == first.as_str())
        .map(|l| l["seq"].as_i64().unwrap())
        .max()
        .unwrap();
    let kept: String = whole_text
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["writer"] != first.as_str() || v["seq"].as_i64().unwrap() <= last_seq - 3
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cut, kept).unwrap();
    let (ok, said) = verify(&cut, None);
    assert!(
        !ok && said.contains("tail was cut") && said.contains(first.as_str()),
        "{said}"
    );
}
