//! The README's path from the demo to a real deployment, run as a newcomer would copy it: every
//! `sh` block of that section, line by line in one bash, in an empty home, with the built `pdgate`
//! on PATH (in place of `cargo install`) and the README's ports swapped for free ones (the
//! CRM's through `PDGATE_UPSTREAM_CRM_URL`, which the section names). It must end
//! with a ready `serve`, a detokenize call that returns the e-mail and a DPO token the console and
//! the admin API accept.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

/// The shell lines of the README section `heading`, without `cargo install`.
fn section_script(readme: &str, heading: &str) -> String {
    let start = readme.find(heading).expect("the README has the section");
    let rest = &readme[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    let mut script = String::new();
    let mut inside = false;
    for line in rest[..end].lines() {
        match (inside, line.trim_start().starts_with("```")) {
            (false, true) => inside = line.trim() == "```sh",
            (true, true) => inside = false,
            (true, false) if !line.starts_with("cargo install") => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    script
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_readme_takes_a_newcomer_from_the_clone_to_a_working_gateway() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo install --locked --path ."));
    let (proxy, admin, crm) = (free_port(), free_port(), free_port());
    let script = section_script(&readme, "## From the demo to a real deployment")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{proxy}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{admin}"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{crm}"));
    assert!(
        script.contains("pdgate serve --config pdgate.toml"),
        "{script}"
    );
    let home = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(pdgate_testkit::bin()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    // The processes the README starts in the background are stopped whatever happens.
    let wrapped = format!(
        "set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n{script}\n\
         DPO=$(pdgate token issue --config pdgate.toml --role dpo --ttl 8h)\n\
         curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}\\n' http://127.0.0.1:{admin}/\n\
         curl -s -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{admin}/console/\n\
         curl -s -o /dev/null -w '%{{http_code}}\\n' -H \"authorization: Bearer $DPO\" http://127.0.0.1:{admin}/admin/v1/requests\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&wrapped)
        .current_dir(root)
        .env("HOME", home.path())
        .env("PATH", path)
        // The README's CRM port moved too: the knob it names for that.
        .env("PDGATE_UPSTREAM_CRM_URL", format!("http://127.0.0.1:{crm}"))
        .env_remove("PDGATE_KEY")
        .env_remove("PDGATE_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(r#""status":"ready""#), "{stdout}");
    assert!(
        stdout.contains(r#""value":"ivan@mail.ru""#),
        "detokenize gave the e-mail back: {stdout}"
    );
    let tail: Vec<&str> = stdout.lines().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            "200",
            "200",
            &*format!("308 http://127.0.0.1:{admin}/console/")
        ],
        "{stdout}"
    );
    let dir = home.path().join("pdgate");
    for secret in ["kek.hex", "jwt.secret", "webhook.secret"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{secret} is readable by others");
    }
}
