//! Property-based fuzzing of the admin API with Schemathesis against the real binary: every
//! operation of `/admin/openapi.json`, positive and negative inputs, then stateful sequences along
//! the document's links (create a request, breach or notification, then act on its id), with a DPO
//! token (and the detokenize endpoint with a service token). The only check is the one no input may break: no
//! 5xx. Reports land in `target/schemathesis/` as test artifacts.
//!
//! Schemathesis is a Python tool: CI installs it (`pip install schemathesis`); elsewhere the test
//! is reported as ignored, with the reason, when it is missing.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pdgate_testkit::{post, token, Db, Gateway, Opts, Upstream};

/// Why the fuzzer cannot run, if it cannot.
fn missing() -> Option<String> {
    let ok = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "schemathesis is not installed (pip install -r tests/requirements.txt)".into())
}

pub(crate) fn trial() -> libtest_mimic::Trial {
    pdgate_testkit::tool_trial(
        "no_input_makes_the_admin_api_fail_with_5xx",
        missing(),
        no_input_makes_the_admin_api_fail_with_5xx,
    )
}

/// One Schemathesis run; `phases` adds `stateful` where the selected operations have links.
fn run(gw: &Gateway, bearer: &str, filter: &[&str], phases: &str, name: &str) {
    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("..")
        .join("schemathesis")
        .join(name);
    std::fs::create_dir_all(&reports).unwrap();
    let out = Command::new("schemathesis")
        // Its cache (`.schemathesis/`) lands beside the reports, not in the source tree.
        .current_dir(&reports)
        .arg("run")
        .arg(gw.admin_url("/admin/openapi.json"))
        .args(["--checks", "not_a_server_error"])
        .args(["--header", &format!("Authorization: Bearer {bearer}")])
        .args([
            "--max-examples",
            "40",
            "--seed",
            "20261124",
            "--workers",
            "2",
        ])
        .args(["--phases", phases])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .args(filter)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(reports.join("output.txt"), &text).unwrap();
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    let log = std::fs::read_to_string(&gw.log_path).unwrap_or_default();
    assert!(!log.contains("panicked"), "the gateway panicked:\n{log}");
}

async fn no_input_makes_the_admin_api_fail_with_5xx() {
    let up = Upstream::start(Duration::ZERO).await;
    let opts = Opts::new(Db::Sqlite).with_admin_tokens();
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    let body = r#"{"email": "fuzz@mail.ru", "phone": "+7 916 555-07-07", "name": "F", "address": "A", "card_last4": "1", "items": [], "total": 1}"#;
    assert_eq!(
        post(&gw.url("/api/checkout"), "application/json", body)
            .await
            .status,
        200
    );
    let dpo = token(&gw, "dpo", None);
    let svc = token(&gw, "service", Some("crm"));
    // Stateful: follows the links from each creating call to the operations on the new id.
    run(
        &gw,
        &dpo,
        &["--exclude-path", "/v1/detokenize"],
        "examples,coverage,fuzzing,stateful",
        "admin",
    );
    run(
        &gw,
        &svc,
        &["--include-path", "/v1/detokenize"],
        "examples,coverage,fuzzing",
        "detokenize",
    );
    drop(up);
}
