//! Configuration: one TOML file, every key overridable from `PDGATE_<KEY>` (env wins).
//!
//! The environment is read once, in `main`, and passed in as a map so tests never touch process
//! state. Unknown keys in the file are errors; unknown `PDGATE_*` variables are ignored because
//! other tools (and the test harness) share the prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::legal_day::{LegalZone, UnknownZone};

pub use pdgate_http::auth::Admin;
pub use pdgate_http::{Limits, Tls};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Proxy listener.
    pub listen: String,
    /// Admin listener (`/healthz`, `/readyz`, later the admin API).
    pub admin_listen: String,
    pub database_url: String,
    /// Directory of policy YAML files.
    pub policies: PathBuf,
    /// File holding the 32-byte KEK (hex or base64); `PDGATE_KEY` may give the key itself.
    pub key_file: Option<PathBuf>,
    /// During a KEK rotation: the KEK being rotated away from, which then only unwraps.
    pub previous_key_file: Option<PathBuf>,
    pub tls: Option<Tls>,
    pub limits: Limits,
    pub admin: Admin,
    pub audit: Audit,
    pub requests: Requests,
    pub legal: Legal,
    pub retention: RetentionCfg,
    pub webhooks: Webhooks,
    pub transfers: TransfersCfg,
    pub discovery: DiscoveryCfg,
    pub detectors: DetectorsCfg,
    /// `json` (default, for log shippers) or `text`.
    pub log_format: LogFormat,
    /// Lifetime of the subject token handed out at intake.
    pub subject_token_ttl_s: u64,
    /// Longest lifetime of a self-service link (`POST /admin/v1/subjects/links`), and its default:
    /// the "withdraw" link in a newsletter must work as long as the consent it withdraws.
    pub subject_link_ttl_s: u64,
    /// Where subjects reach the proxy listener (`https://shop.example`): self-service links in
    /// receipts and listings start with it, never with a request's `Host`. Unset: paths only.
    pub public_url: Option<String>,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_s: u64,
    /// SQLite only: the most the database file may grow to, in bytes (0: no cap). Past it pdgate
    /// behaves as on a full disk (intakes 503) until space inside the file is freed.
    pub sqlite_max_bytes: u64,
    /// PostgreSQL only: the longest a statement may run (0: no limit).
    pub pg_statement_timeout_ms: u64,
}

impl Config {
    /// What the register says about this configuration's security (no secrets).
    pub fn security_facts(&self) -> crate::register::SecurityFacts {
        let postgres = self.database_url.starts_with("postgres");
        crate::register::SecurityFacts {
            backend: if postgres { "PostgreSQL" } else { "SQLite" },
            database: crate::register::database_place(&self.database_url),
            tls: self.tls.is_some(),
            admin_auth: match (&self.admin.jwt_secret_file, &self.admin.jwks_file) {
                (_, Some(_)) => "JWT RS256/ES256 (JWKS)",
                (Some(_), None) => "JWT HS256 (shared secret)",
                (None, None) => "not configured: the admin API refuses every call",
            },
            retention_interval_s: self.retention.interval_s,
            checkpoint_entries: self.audit.checkpoint_entries,
            checkpoint_interval_s: self.audit.checkpoint_interval_s,
            webhooks_signed: self.webhooks.secret_file.is_some(),
        }
    }

    pub fn store_options(&self) -> crate::store::Options {
        crate::store::Options {
            sqlite_max_bytes: self.sqlite_max_bytes,
            pg_statement_timeout_ms: self.pg_statement_timeout_ms,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// A signed checkpoint after this many entries…
    pub checkpoint_entries: u64,
    /// …and at least this often while entries keep coming.
    pub checkpoint_interval_s: u64,
    /// Each signed checkpoint is also appended here (JSON lines, synced), outside the database.
    pub checkpoint_file: Option<PathBuf>,
    /// …and posted here (signed with `[webhooks] secret_file` when set).
    pub checkpoint_webhook_url: Option<String>,
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            checkpoint_entries: 1000,
            checkpoint_interval_s: 60,
            checkpoint_file: None,
            checkpoint_webhook_url: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requests {
    /// A working-day calendar replacing the shipped Russian one (format of `calendars/ru.txt`).
    pub calendar_file: Option<PathBuf>,
}

/// `[legal]`: where the operator's legal days are counted.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Legal {
    /// IANA time zone of the operator's place (152-FZ counts its days there): deadlines, the
    /// Art. 12 wait, the times in breach notices, reports, the register and the console.
    pub timezone: String,
}

impl Default for Legal {
    fn default() -> Self {
        Self {
            timezone: crate::legal_day::DEFAULT.to_owned(),
        }
    }
}

impl Legal {
    /// The configured zone (checked when the config is loaded).
    pub fn zone(&self) -> LegalZone {
        LegalZone::named(&self.timezone).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionCfg {
    /// Seconds between retention sweeps in `serve`; 0 turns the sweeper off.
    pub interval_s: u64,
}

impl Default for RetentionCfg {
    fn default() -> Self {
        Self { interval_s: 300 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryCfg {
    /// How often flows found by discovery (`discovery: true` in the policies) are written.
    pub flush_ms: u64,
}

impl Default for DiscoveryCfg {
    fn default() -> Self {
        Self { flush_ms: 5000 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsCfg {
    /// The region (ISO 3166 code) phone numbers written without `+` and a country code are read
    /// in, by fields of `kind: phone` and by the detectors in free text.
    pub default_region: String,
    /// Regions whose national forms (`030 12345678`, `(415) 555-2671`) the detectors also read in
    /// free text, when written in groups of at least 10 digits.
    pub foreign_regions: Vec<String>,
}

impl Default for DetectorsCfg {
    fn default() -> Self {
        Self {
            default_region: "RU".into(),
            foreign_regions: crate::actions::detect::DEFAULT_FOREIGN_REGIONS
                .iter()
                .map(|r| (*r).into())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransfersCfg {
    /// A list of adequate countries replacing the shipped one (format of
    /// `data/adequate-countries.txt`).
    pub adequacy_file: Option<PathBuf>,
    /// Seconds between re-reads of the recorded cross-border notifications (other replicas'
    /// changes reach this one within that time).
    pub refresh_s: u64,
    /// Calendar days a notification is assumed to take to reach Roskomnadzor while its receipt
    /// is not recorded (the 152-FZ Art. 12 wait runs from the receipt).
    pub delivery_days: u32,
}

impl Default for TransfersCfg {
    fn default() -> Self {
        Self {
            adequacy_file: None,
            refresh_s: 10,
            delivery_days: pdgate_core::transfers::DEFAULT_DELIVERY_DAYS,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhooks {
    /// Shared secret (at least 32 bytes) that signs erasure and rectification webhooks.
    pub secret_file: Option<PathBuf>,
    /// How often the outbox is polled for due deliveries, in milliseconds.
    pub poll_ms: u64,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self {
            secret_file: None,
            poll_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:8081".into(),
            database_url: "sqlite://pdgate.db".into(),
            policies: PathBuf::from("policies"),
            key_file: None,
            previous_key_file: None,
            tls: None,
            limits: Limits::default(),
            admin: Admin::default(),
            audit: Audit::default(),
            requests: Requests::default(),
            legal: Legal::default(),
            retention: RetentionCfg::default(),
            webhooks: Webhooks::default(),
            transfers: TransfersCfg::default(),
            discovery: DiscoveryCfg::default(),
            detectors: DetectorsCfg::default(),
            log_format: LogFormat::Json,
            subject_token_ttl_s: 7 * 24 * 3600,
            subject_link_ttl_s: 366 * 24 * 3600,
            public_url: None,
            sqlite_max_bytes: 0,
            pg_statement_timeout_ms: 30_000,
            shutdown_grace_s: 30,
        }
    }
}

/// Whether pdgate reads the environment variable `name`: a config key, the key itself, the log
/// level, or an upstream's URL (`PDGATE_UPSTREAM_<ID>_URL`, checked against the policies).
pub fn reads_env(name: &str) -> bool {
    matches!(name, "PDGATE_KEY" | "PDGATE_KEY_ON_STDIN" | "PDGATE_LOG")
        || ENV_KEYS.iter().any(|(n, _, _)| *n == name)
        || name
            .strip_prefix("PDGATE_UPSTREAM_")
            .and_then(|r| r.strip_suffix("_URL"))
            .is_some_and(|id| !id.is_empty())
}

/// Every key that may come from the environment, as `(PDGATE_ name, TOML path, is integer)`.
const ENV_KEYS: &[(&str, &[&str], bool)] = &[
    ("PDGATE_LISTEN", &["listen"], false),
    ("PDGATE_ADMIN_LISTEN", &["admin_listen"], false),
    ("PDGATE_DATABASE_URL", &["database_url"], false),
    ("PDGATE_POLICIES", &["policies"], false),
    ("PDGATE_KEY_FILE", &["key_file"], false),
    ("PDGATE_PREVIOUS_KEY_FILE", &["previous_key_file"], false),
    ("PDGATE_TLS_CERT", &["tls", "cert"], false),
    ("PDGATE_TLS_KEY", &["tls", "key"], false),
    (
        "PDGATE_LIMITS_MAX_BODY_BYTES",
        &["limits", "max_body_bytes"],
        true,
    ),
    ("PDGATE_LIMITS_MAX_FIELDS", &["limits", "max_fields"], true),
    (
        "PDGATE_LIMITS_MAX_JSON_DEPTH",
        &["limits", "max_json_depth"],
        true,
    ),
    ("PDGATE_LIMITS_MAX_PARTS", &["limits", "max_parts"], true),
    (
        "PDGATE_LIMITS_MAX_HEADER_BYTES",
        &["limits", "max_header_bytes"],
        true,
    ),
    (
        "PDGATE_LIMITS_HEADER_TIMEOUT_MS",
        &["limits", "header_timeout_ms"],
        true,
    ),
    (
        "PDGATE_LIMITS_IDLE_TIMEOUT_MS",
        &["limits", "idle_timeout_ms"],
        true,
    ),
    (
        "PDGATE_LIMITS_BODY_TIMEOUT_MS",
        &["limits", "body_timeout_ms"],
        true,
    ),
    (
        "PDGATE_LIMITS_UPSTREAM_TIMEOUT_MS",
        &["limits", "upstream_timeout_ms"],
        true,
    ),
    (
        "PDGATE_LIMITS_MAX_CONNECTIONS",
        &["limits", "max_connections"],
        true,
    ),
    (
        "PDGATE_ADMIN_JWT_SECRET_FILE",
        &["admin", "jwt_secret_file"],
        false,
    ),
    ("PDGATE_ADMIN_JWKS_FILE", &["admin", "jwks_file"], false),
    (
        "PDGATE_TRANSFERS_ADEQUACY_FILE",
        &["transfers", "adequacy_file"],
        false,
    ),
    (
        "PDGATE_TRANSFERS_REFRESH_S",
        &["transfers", "refresh_s"],
        true,
    ),
    (
        "PDGATE_TRANSFERS_DELIVERY_DAYS",
        &["transfers", "delivery_days"],
        true,
    ),
    (
        "PDGATE_DETECTORS_DEFAULT_REGION",
        &["detectors", "default_region"],
        false,
    ),
    (
        "PDGATE_DISCOVERY_FLUSH_MS",
        &["discovery", "flush_ms"],
        true,
    ),
    ("PDGATE_ADMIN_ISSUER", &["admin", "issuer"], false),
    ("PDGATE_ADMIN_AUDIENCE", &["admin", "audience"], false),
    (
        "PDGATE_ADMIN_STAFF_AUDIENCE",
        &["admin", "staff_audience"],
        false,
    ),
    ("PDGATE_ADMIN_LEEWAY_S", &["admin", "leeway_s"], true),
    (
        "PDGATE_ADMIN_METRICS_TOKEN_FILE",
        &["admin", "metrics_token_file"],
        false,
    ),
    (
        "PDGATE_AUDIT_CHECKPOINT_ENTRIES",
        &["audit", "checkpoint_entries"],
        true,
    ),
    (
        "PDGATE_AUDIT_CHECKPOINT_INTERVAL_S",
        &["audit", "checkpoint_interval_s"],
        true,
    ),
    (
        "PDGATE_AUDIT_CHECKPOINT_FILE",
        &["audit", "checkpoint_file"],
        false,
    ),
    (
        "PDGATE_AUDIT_CHECKPOINT_WEBHOOK_URL",
        &["audit", "checkpoint_webhook_url"],
        false,
    ),
    (
        "PDGATE_REQUESTS_CALENDAR_FILE",
        &["requests", "calendar_file"],
        false,
    ),
    ("PDGATE_LEGAL_TIMEZONE", &["legal", "timezone"], false),
    (
        "PDGATE_RETENTION_INTERVAL_S",
        &["retention", "interval_s"],
        true,
    ),
    (
        "PDGATE_WEBHOOKS_SECRET_FILE",
        &["webhooks", "secret_file"],
        false,
    ),
    ("PDGATE_WEBHOOKS_POLL_MS", &["webhooks", "poll_ms"], true),
    ("PDGATE_LOG_FORMAT", &["log_format"], false),
    ("PDGATE_SUBJECT_TOKEN_TTL_S", &["subject_token_ttl_s"], true),
    ("PDGATE_SUBJECT_LINK_TTL_S", &["subject_link_ttl_s"], true),
    ("PDGATE_PUBLIC_URL", &["public_url"], false),
    ("PDGATE_SQLITE_MAX_BYTES", &["sqlite_max_bytes"], true),
    (
        "PDGATE_PG_STATEMENT_TIMEOUT_MS",
        &["pg_statement_timeout_ms"],
        true,
    ),
    ("PDGATE_SHUTDOWN_GRACE_S", &["shutdown_grace_s"], true),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    /// The cached notifications go stale after 60 s: with reads further apart, transfers abroad
    /// would be refused (and the replica not ready) for most of every interval.
    #[error(
        "config {path}: [transfers] refresh_s must be at most 30 (the cache goes stale after 60 s)"
    )]
    SlowRefresh { path: String },
    #[error("config {path}: [detectors] {key} `{value}` is not a region code (RU, KZ, DE, …)")]
    NotARegion {
        path: String,
        key: &'static str,
        value: String,
    },
    #[error("environment variable {name}: expected an integer")]
    EnvInteger { name: String },
    #[error("config {path}: [legal] timezone: {source}")]
    Zone {
        path: String,
        #[source]
        source: UnknownZone,
    },
}

impl Config {
    /// The file (if any) overlaid with the environment map.
    pub fn load(
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let (mut table, name) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                let t: toml::Table =
                    toml::from_str(&text).map_err(|source| ConfigError::Parse {
                        path: p.display().to_string(),
                        source,
                    })?;
                (t, p.display().to_string())
            }
            None => (toml::Table::new(), "(defaults)".to_owned()),
        };
        for (var, path, integer) in ENV_KEYS {
            let Some(raw) = env.get(*var) else { continue };
            let value = if *integer {
                toml::Value::Integer(raw.trim().parse().map_err(|_| ConfigError::EnvInteger {
                    name: (*var).to_owned(),
                })?)
            } else {
                toml::Value::String(raw.clone())
            };
            let mut t = &mut table;
            for seg in &path[..path.len() - 1] {
                let entry = t
                    .entry((*seg).to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if !entry.is_table() {
                    *entry = toml::Value::Table(toml::Table::new());
                }
                t = entry.as_table_mut().expect("just made a table");
            }
            t.insert(path[path.len() - 1].to_owned(), value);
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|source| ConfigError::Parse {
                    path: name.clone(),
                    source,
                })?;
        // Two reads fit in the 60 s window, so one may fail.
        if config.transfers.refresh_s > 30 {
            return Err(ConfigError::SlowRefresh { path: name });
        }
        let regions = detector_regions(&config.detectors).map_err(|(key, value)| {
            ConfigError::NotARegion {
                path: name.clone(),
                key,
                value,
            }
        })?;
        if let Err(source) = LegalZone::named(&config.legal.timezone) {
            return Err(ConfigError::Zone { path: name, source });
        }
        // One process, one configuration: the first one loaded sets it.
        crate::actions::detect::set_regions(regions);
        Ok(config)
    }
}

/// The detectors' regions, each a region code libphonenumber's metadata knows; else the setting
/// and the value that is not one.
fn detector_regions(
    cfg: &DetectorsCfg,
) -> Result<crate::actions::detect::Regions, (&'static str, String)> {
    let known = |r: &str, key: &'static str| {
        let upper = r.to_ascii_uppercase();
        match phonenumber::metadata::DATABASE.by_id(upper.as_str()) {
            Some(_) => Ok(upper),
            None => Err((key, r.to_owned())),
        }
    };
    Ok(crate::actions::detect::Regions {
        default: known(&cfg.default_region, "default_region")?,
        foreign: cfg
            .foreign_regions
            .iter()
            .map(|r| known(r, "foreign_regions"))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_env_layers() {
        let c = Config::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://pdgate.db");

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pdgate.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:80\"\n[limits]\nmax_fields = 10\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
        let env: BTreeMap<String, String> = [
            ("PDGATE_LIMITS_MAX_FIELDS", "20"),
            ("PDGATE_DISCOVERY_FLUSH_MS", "250"),
            ("PDGATE_DATABASE_URL", "postgres://x/y"),
            ("PDGATE_TEST_DATABASE_URL", "ignored"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let c = Config::load(Some(&f), &env).unwrap();
        assert_eq!(c.listen, "0.0.0.0:80");
        assert_eq!(c.limits.max_fields, 20, "env wins over the file");
        assert_eq!(c.discovery.flush_ms, 250);
        assert_eq!(c.limits.max_json_depth, 32, "untouched keys keep defaults");
        assert_eq!(c.database_url, "postgres://x/y");
        assert_eq!(c.tls.unwrap().cert, PathBuf::from("c.pem"));
    }

    #[test]
    fn every_config_key_is_in_the_readme_table() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let table: String = readme.lines().filter(|l| l.starts_with("| `")).collect();
        for (var, path, _) in ENV_KEYS {
            let key = path.last().unwrap();
            let row = match path {
                [_] => format!("| `{key}` |"),
                [t, _] => format!("| `[{t}] "),
                _ => unreachable!("keys are at most one table deep"),
            };
            assert!(
                table.contains(&row) && table.contains(&format!("{key}`")),
                "README's configuration table lacks {var} ({})",
                path.join(".")
            );
        }
    }

    #[test]
    fn the_example_config_parses() {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("pdgate.example.toml");
        let c = Config::load(Some(&f), &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.transfers.refresh_s, c.discovery.flush_ms), (10, 5000));
    }

    #[test]
    fn a_refresh_slower_than_the_cache_lasts_is_refused() {
        let env =
            |v: &str| BTreeMap::from([("PDGATE_TRANSFERS_REFRESH_S".to_owned(), v.to_owned())]);
        assert_eq!(
            Config::load(None, &env("30")).unwrap().transfers.refresh_s,
            30
        );
        let e = Config::load(None, &env("61")).unwrap_err().to_string();
        assert!(e.contains("refresh_s must be at most 30"), "{e}");
    }

    #[test]
    fn the_phone_region_must_be_a_region() {
        // RU only: the region is process-wide, and the detectors' tests read numbers in it.
        let env = |v: &str| {
            BTreeMap::from([("PDGATE_DETECTORS_DEFAULT_REGION".to_owned(), v.to_owned())])
        };
        let c = Config::load(None, &env("ru")).unwrap();
        assert_eq!(c.detectors.default_region, "ru");
        let e = Config::load(None, &env("Russia")).unwrap_err().to_string();
        assert!(
            e.contains("default_region `Russia` is not a region code"),
            "{e}"
        );
    }

    #[test]
    fn the_legal_timezone_must_be_a_zone() {
        let env = |v: &str| BTreeMap::from([("PDGATE_LEGAL_TIMEZONE".to_owned(), v.to_owned())]);
        assert_eq!(Config::default().legal.zone().name(), "Europe/Moscow");
        let c = Config::load(None, &env("Asia/Yekaterinburg")).unwrap();
        assert_eq!(c.legal.zone().name(), "Asia/Yekaterinburg");
        let e = Config::load(None, &env("MSK")).unwrap_err().to_string();
        assert!(
            e.contains("[legal] timezone: `MSK` is not an IANA time zone"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_env_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pdgate.toml");
        std::fs::write(&f, "listne = \"x\"\n").unwrap();
        assert!(Config::load(Some(&f), &BTreeMap::new())
            .unwrap_err()
            .to_string()
            .contains("listne"));
        let env = [("PDGATE_LIMITS_MAX_FIELDS".to_owned(), "many".to_owned())]
            .into_iter()
            .collect();
        assert!(matches!(
            Config::load(None, &env),
            Err(ConfigError::EnvInteger { .. })
        ));
    }
}
