//! The DPO console end to end in headless Chromium: `tests/console/console_test.py` (Playwright
//! driving the system Chromium) signs in, fulfils a request, exports the register, opens a
//! breach, reads a retention sweep's act and searches the audit log against the real binary; then
//! `tests/console/manage_test.py` withdraws a consent on a subject's self-service link page.
//! Screenshots are kept in `target/console-screenshots/` as test artifacts.
//!
//! CI installs Chromium (apt) and Playwright (pip); elsewhere the test is reported as ignored, with
//! the reason, when either is missing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pdgate_testkit::{authed, post, token, Db, Gateway, Opts, Upstream};

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// What is missing for the browser test, if anything.
fn missing() -> Option<String> {
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output()
        .is_ok_and(|o| o.status.success());
    match (chromium(), playwright) {
        (Some(_), true) => None,
        (None, _) => Some("chromium is not installed (apt-get install chromium)".into()),
        (_, false) => {
            Some("playwright is not installed (pip install -r tests/requirements.txt)".into())
        }
    }
}

pub(crate) fn trial() -> libtest_mimic::Trial {
    pdgate_testkit::tool_trial(
        "a_dpo_works_through_the_console_in_headless_chromium",
        missing(),
        a_dpo_works_through_the_console_in_headless_chromium,
    )
}

async fn a_dpo_works_through_the_console_in_headless_chromium() {
    let up = Upstream::start(Duration::ZERO).await;
    let mut opts = Opts::new(Db::Sqlite).with_admin_tokens();
    opts.extra_config = "[discovery]\nflush_ms = 100\n".into();
    opts.policy_edit = Box::new(|name, t| {
        if name == "shop.yaml" {
            format!("{t}\ndiscovery: true\n")
        } else {
            t.to_owned()
        }
    });
    let gw = Gateway::start(opts, &up.url()).await.unwrap();
    for i in 0..3 {
        let body = format!(
            r#"{{"email": "shopper{i}@mail.ru", "phone": "+7 916 555-07-0{i}", "name": "Анна", "address": "Тверь", "card_last4": "1", "items": [], "total": 1, "subscribe": "on"}}"#
        );
        assert_eq!(
            post(&gw.url("/api/checkout"), "application/json", body)
                .await
                .status,
            200
        );
    }
    let form = "email=visitor%40mail.ru&text=call+me+on+%2B7+916+123-45-67";
    assert_eq!(
        post(
            &gw.url("/feedback"),
            "application/x-www-form-urlencoded",
            form
        )
        .await
        .status,
        200
    );
    // An enquiry, and a sweep 400 days on that destroys it (enquiries are kept a year).
    let enquiry = "email=enquirer%40mail.ru&name=Vera&message=hi&agree=on";
    assert_eq!(
        post(
            &gw.url("/contact"),
            "application/x-www-form-urlencoded",
            enquiry
        )
        .await
        .status,
        200
    );
    let later = (pdgate::now_millis() + 400 * 86_400_000).to_string();
    let swept = pdgate_testkit::retention(&gw, &["--now", &later]);
    assert_eq!(swept["subjects_erased"], 1, "{swept}");
    // A newsletter reader withdraws: a thirty-day destruction clock starts (152-FZ Art. 21(5)).
    let reader = post(
        &gw.url("/newsletter/subscribe"),
        "application/x-www-form-urlencoded",
        "email=reader%40mail.ru&name=Vera&consent=on",
    )
    .await;
    assert_eq!(reader.status, 200);
    let subject_token = reader.header("x-pdgate-subject-token").unwrap();
    let url = gw.url("/.well-known/pdgate/v1/consents/marketing/withdraw");
    assert_eq!(authed("POST", &url, &subject_token, "").await.status, 200);
    let dpo = token(&gw, "dpo", None);
    let r = authed(
        "POST",
        &gw.admin_url("/admin/v1/requests"),
        &dpo,
        r#"{"type": "access", "subject": {"email": "shopper1@mail.ru"}, "regime": "both"}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await; // discovery's flush

    let admin = format!("http://{}", gw.admin);
    let args = ["--admin", &admin, "--token", &dpo, "--request-id", &id];
    let text = browser_script("console_test.py", &args).await;
    assert!(text.contains("console: ok"), "{text}");

    // A subject's self-service link: the page it opens lists and withdraws their consent.
    let svc = token(&gw, "service", Some("crm"));
    let r = authed(
        "POST",
        &gw.admin_url("/admin/v1/subjects/links"),
        &svc,
        r#"{"subject": {"email": "shopper0@mail.ru"}}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let url = gw.url(r.json()["manage_url"].as_str().unwrap());
    let text = browser_script("manage_test.py", &["--url", &url]).await;
    assert!(text.contains("manage: ok"), "{text}");
    drop(up);
}

/// Runs `tests/console/<script>` with `args`, the screenshot folder, the system Chromium and this
/// process's now (faked by tests/at-date.sh or real); its output, once it has exited successfully.
/// The browser is kept out of faketime, which slows Chromium many times over: the script sets
/// its clock to that now instead.
async fn browser_script(script: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/console")
        .join(script);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("..")
        .join("console-screenshots");
    let chromium = chromium().expect("checked by missing()");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let name = script.display().to_string();
    let now = pdgate::now_millis().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            // The scripts import browser_clock.py: no __pycache__ left in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(&script)
            .args(&args)
            .arg("--out")
            .arg(&shots)
            .arg("--chromium")
            .arg(&chromium)
            .arg("--now-ms")
            .arg(&now)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} failed:\n{text}");
    text
}
