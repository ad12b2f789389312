//! The deployment files, checked as far as this machine can without a container engine: the
//! compose file and the Kubernetes manifests parse; every `PDGATE_*` variable they or the image set
//! is one pdgate reads; every `*_FILE` variable points into something mounted; every mount is a
//! path the image or pdgate uses; the admin port is not published on all interfaces; secrets are
//! readable by the image's user; the image has a working health check and a lean build context.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn yaml(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(v) => v.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `ENV` lines of the Dockerfile as name → value.
fn image_env() -> BTreeMap<String, String> {
    let text = read("deploy/Dockerfile").replace("\\\n", " ");
    text.lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Paths the image itself has or pdgate writes: its policies, its home and database directory.
const IMAGE_PATHS: &[&str] = &["/etc/pdgate/policies", "/var/lib/pdgate"];

fn check_env(file: &str, env: &BTreeMap<String, String>, mounts: &[String]) {
    for (name, value) in env.iter().filter(|(k, _)| k.starts_with("PDGATE_")) {
        assert!(
            pdgate::config::reads_env(name),
            "{file}: {name} is not a variable pdgate reads"
        );
        if name.ends_with("_FILE") || name == "PDGATE_POLICIES" {
            assert!(
                mounts.iter().any(|m| value.starts_with(m.as_str())),
                "{file}: {name}={value} is not under a mounted path {mounts:?}"
            );
        }
    }
    for m in mounts {
        let used =
            env.values().any(|v| v.starts_with(m.as_str())) || IMAGE_PATHS.contains(&m.as_str());
        assert!(used, "{file}: {m} is mounted but nothing reads it");
    }
    // Upstream overrides name upstreams the shipped policies declare.
    let mut policy =
        pdgate::policy::Policy::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
            .unwrap();
    policy
        .override_upstream_urls(env)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
}

#[test]
fn the_image_runs_as_10001_with_a_health_check_and_a_lean_context() {
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains("--uid 10001") && docker.contains("USER pdgate"));
    let health = docker
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(
        health.contains("\"/usr/local/bin/pdgate\", \"health\""),
        "{health}"
    );
    let env = image_env();
    check_env("Dockerfile", &env, &["/etc/pdgate/policies".to_owned()]);
    assert_eq!(env["PDGATE_ADMIN_LISTEN"], "0.0.0.0:8081");
    let ignore = read(".dockerignore");
    for needed in ["target/", "*.db", "*.hex", "*.secret", "deploy/secrets/"] {
        assert!(
            ignore.lines().any(|l| l == needed),
            ".dockerignore lacks {needed}"
        );
    }
}

#[test]
fn compose_sets_only_read_variables_and_keeps_the_admin_port_local() {
    let doc = &yaml("deploy/docker-compose.yml")[0];
    let services = &doc["services"];
    let gw = &services["pdgate"];
    let mut env = image_env();
    for (k, v) in gw["environment"].as_hash().unwrap() {
        env.insert(s(k), s(v));
    }
    let secrets: Vec<String> = gw["secrets"].as_vec().unwrap().iter().map(s).collect();
    for needed in ["kek", "jwt", "webhook"] {
        assert!(
            secrets.contains(&needed.to_owned()),
            "secret {needed} not mounted"
        );
        assert!(!doc["secrets"][needed]["file"].is_badvalue());
    }
    let mut mounts: Vec<String> = secrets
        .iter()
        .map(|n| format!("/run/secrets/{n}"))
        .collect();
    mounts.push("/etc/pdgate/policies".into());
    check_env("docker-compose.yml", &env, &mounts);
    for key in [
        "PDGATE_KEY_FILE",
        "PDGATE_ADMIN_JWT_SECRET_FILE",
        "PDGATE_WEBHOOKS_SECRET_FILE",
    ] {
        assert!(env.contains_key(key), "compose does not set {key}");
    }
    // Two replicas behind the load balancer, which alone publishes ports.
    assert!(gw["deploy"]["replicas"].as_i64().unwrap() >= 2);
    assert!(
        gw["ports"].is_badvalue(),
        "a replica publishes a port of its own"
    );
    let lb = &services["lb"];
    let conf = read("deploy/nginx-lb.conf");
    for v in lb["volumes"].as_vec().unwrap().iter().map(s) {
        assert!(v.starts_with("./nginx-lb.conf:"), "{v}");
    }
    for (port, upstream) in [("8080", "pdgate:8080"), ("8081", "pdgate:8081")] {
        assert!(conf.contains(&format!("listen {port};")) && conf.contains(upstream));
    }
    for p in lb["ports"].as_vec().unwrap().iter().map(s) {
        if p.ends_with(":8081") {
            assert!(
                p.starts_with("127.0.0.1:"),
                "admin published on all interfaces: {p}"
            );
        }
    }
    // The upstream override points at the CRM service, on the port its command listens on.
    let crm = &env["PDGATE_UPSTREAM_CRM_URL"];
    let command: Vec<String> = services["crm"]["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    let listen = command
        .iter()
        .skip_while(|a| *a != "--listen")
        .nth(1)
        .unwrap();
    let port = listen.rsplit(':').next().unwrap();
    assert_eq!(crm, &format!("http://crm:{port}"));
    // The secrets' instructions make them readable by the container's user.
    assert!(read("deploy/docker-compose.yml").contains("chmod 444 deploy/secrets/*"));
}

#[test]
fn kubernetes_sets_only_read_variables_and_mounts_readable_secrets() {
    let docs = yaml("deploy/k8s/pdgate.yaml");
    let deploy = docs.iter().find(|d| s(&d["kind"]) == "Deployment").unwrap();
    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(s(&c["imagePullPolicy"]), "IfNotPresent");
    assert_eq!(s(&pod["securityContext"]["runAsUser"]), "10001");
    assert_eq!(s(&pod["securityContext"]["fsGroup"]), "10001");
    let mut env = image_env();
    for e in c["env"].as_vec().unwrap() {
        if !e["value"].is_badvalue() {
            env.insert(s(&e["name"]), s(&e["value"]));
        } else {
            env.insert(s(&e["name"]), String::new());
        }
    }
    let mounts: Vec<String> = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| s(&m["mountPath"]))
        .collect();
    check_env("k8s/pdgate.yaml", &env, &mounts);
    for key in [
        "PDGATE_KEY_FILE",
        "PDGATE_ADMIN_JWT_SECRET_FILE",
        "PDGATE_WEBHOOKS_SECRET_FILE",
    ] {
        assert!(env.contains_key(key), "k8s does not set {key}");
    }
    for v in pod["volumes"].as_vec().unwrap() {
        if let Some(mode) = v["secret"]["defaultMode"].as_i64() {
            // Written 0440 (YAML 1.1 octal, as Kubernetes reads it): the fsGroup may read.
            assert!(mode == 0o440 || mode == 440, "secret mode {mode}");
        }
    }
    // The policies' config map carries every file of the shipped policies, at its path.
    let mut items: Vec<String> = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .filter(|v| !v["configMap"].is_badvalue())
        .flat_map(|v| {
            v["configMap"]["items"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|i| s(&i["path"]))
        })
        .collect();
    items.sort();
    let mut shipped = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().map(Result::unwrap) {
            match e.file_type().unwrap().is_dir() {
                true => dirs.push(e.path()),
                false => shipped.push(e.path().strip_prefix(&root).unwrap().display().to_string()),
            }
        }
    }
    shipped.sort();
    assert_eq!(
        items, shipped,
        "the config map's items are the shipped policy files"
    );
    let admin = docs
        .iter()
        .find(|d| s(&d["kind"]) == "Service" && s(&d["metadata"]["name"]) == "pdgate-admin")
        .unwrap();
    assert_eq!(
        s(&admin["spec"]["type"]),
        "ClusterIP",
        "admin stays inside the cluster"
    );
}

/// The alert rules parse, and every pdgate series they name is one `/metrics` exposes.
#[test]
fn the_alert_rules_name_only_series_pdgate_exposes() {
    let doc = &yaml("deploy/prometheus/pdgate-alerts.yml")[0];
    let m = pdgate::metrics::Metrics::new(["checkout"]);
    m.commit_failures(&[(pdgate::store::health::FailureReason::DiskFull, 1)]);
    let exposed = m.render(
        pdgate::records::oversight::Gauges::default(),
        None,
        pdgate::breach::ClockGauges::default(),
    );
    let mut named = 0;
    for rule in doc["groups"][0]["rules"].as_vec().unwrap() {
        assert!(!s(&rule["alert"]).is_empty());
        let expr = s(&rule["expr"]);
        for series in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("pdgate_"))
        {
            named += 1;
            assert!(
                exposed.lines().any(|l| l.starts_with(series)),
                "{series} (in `{expr}`) is not exposed"
            );
        }
    }
    assert!(named >= 6, "{named}");
}

#[test]
fn the_systemd_unit_says_how_its_user_and_files_are_made() {
    let unit = read("deploy/pdgate.service");
    assert!(unit.contains("useradd --system") && unit.contains("User=pdgate"));
    for f in ["kek.hex", "jwt.secret", "webhook.secret"] {
        assert!(unit.contains(f), "the unit does not say where {f} goes");
    }
}
