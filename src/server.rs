//! Wiring of a running gateway: store, keys, writer, both listeners, and shutdown.
//!
//! [`start`] does everything that can fail (database, migrations, key check, binding, TLS files) and
//! only then returns a [`Server`] whose addresses are known, so a caller binding port 0 — tests, the
//! demo — can print or use them before traffic flows.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::Admin;
use crate::audit::{AuditEvent, Chain};
use crate::config::Config;
use crate::crypto::{Kek, KeyError, Keys, RootSecret};
use crate::policy::{Policy, PolicyErrors};
use crate::proxy::{self, Gateway};
use crate::store::health::Ours;
use crate::store::{Backend, Checkpoints, Committer, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Policy(#[from] PolicyErrors),
    #[error("PDGATE_KEY: {0}")]
    EnvKey(#[source] KeyError),
    #[error("key_file: {0}")]
    KeyFile(#[source] KeyError),
    #[error("key: no key configured: set `key_file` (32 bytes, hex or base64) or PDGATE_KEY; `--dev` runs on a throwaway key")]
    NoKey,
    #[error("key: the configured key does not open this database's key ring (wrong key?)")]
    WrongKey,
    #[error("key: the database's key ring: {0}")]
    KeyRing(#[source] KeyError),
    #[error("previous_key_file: {0}")]
    PreviousKeyFile(#[source] KeyError),
    #[error("key: the configured key does not open this database's key ring; it is wrapped under KEK version {0}: during a rotation give the new key as the key and the old one as `previous_key_file`")]
    RotatedKey(i64),
    #[error("key: the key ring knows {which} under version {known}, but its root secret is wrapped under version {ring}: the key ring is inconsistent")]
    RingVersions {
        which: &'static str,
        known: i64,
        ring: i64,
    },
    #[error("{0}")]
    Rotate(#[from] crate::keys::RotateError),
    #[error("key: another new KEK was registered at the same time; run one rotation at a time with one new key")]
    KekRace,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr} ({setting}): {source}")]
    Bind {
        addr: String,
        /// Where the address comes from, so "address in use" says what to change.
        setting: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] pdgate_http::listener::TlsError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("admin auth: {0}")]
    Auth(#[from] pdgate_http::auth::KeyError),
    /// A consent text edited in place: what subjects agreed to would no longer be provable.
    #[error(
        "consent text `{id}` version {version} differs from the text first shown under that version \
         (sha256 {stored}); give the edited text a new version in its purpose's `consent:`"
    )]
    ConsentTextChanged {
        id: String,
        version: String,
        stored: String,
    },
    #[error("{setting} {}: {source}", path.display())]
    DataFile {
        setting: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "public_url `{0}` must be an absolute http:// or https:// URL without query or fragment"
    )]
    PublicUrl(String),
    #[error("{0}")]
    Webhooks(#[from] crate::requests::outbox::SecretError),
}

impl ServeError {
    /// An I/O failure, named by what was being done.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}

/// Loads the KEK: `PDGATE_KEY` (the key itself) wins over `key_file`; with neither, only `dev`
/// may run, on a random key that is announced loudly and lost at exit.
pub fn load_kek(
    config: &Config,
    env_key: Option<&str>,
    dev: bool,
) -> Result<(Kek, bool), ServeError> {
    if let Some(k) = env_key {
        return Kek::parse(k, 1)
            .map(|k| (k, false))
            .map_err(ServeError::EnvKey);
    }
    if let Some(f) = &config.key_file {
        return Kek::from_file(f, 1)
            .map(|k| (k, false))
            .map_err(ServeError::KeyFile);
    }
    if dev {
        return Ok((Kek::generate(1), true));
    }
    Err(ServeError::NoKey)
}

/// The KEK a rotation moves away from (`previous_key_file`), if one is configured.
pub fn load_previous_kek(config: &Config) -> Result<Option<Kek>, ServeError> {
    config
        .previous_key_file
        .as_deref()
        .map(|f| Kek::from_file(f, 0).map_err(ServeError::PreviousKeyFile))
        .transpose()
}

/// What `serve` runs beside the listeners: the retention sweeper and the webhook outbox.
struct Background {
    store: Store,
    committer: Committer,
    policy: Arc<Policy>,
    /// The sweeper's: an erasure under a legal hold wraps the held categories' keys.
    keys: Arc<Keys>,
    client: pdgate_http::Client,
    webhook_secret: Option<Arc<crate::requests::outbox::Secret>>,
    transfers: Arc<crate::transfers::Transfers>,
    samples: Option<tokio::sync::mpsc::Receiver<crate::discovery::Sample>>,
}

/// A gateway with its listeners bound, ready to [`Server::run`].
pub struct Server {
    pub proxy_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    gateway: Arc<Gateway>,
    admin: Arc<Admin>,
    background: Background,
    writer_task: tokio::task::JoinHandle<()>,
    bound: Bound,
    config: Config,
}

/// Opens the store (migrating it), checks the KEK against it, starts the writer and binds both
/// listeners.
pub async fn start(config: Config, policy: Policy, kek: Kek) -> Result<Server, ServeError> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    store.migrate().await?;
    let keys = Arc::new(unlock(&store, kek, load_previous_kek(&config)?).await?);
    register_consent_texts(&store, &policy).await?;
    let verifier = verifier(&config)?;
    let (committer, writer_task) = start_writer(&store, keys.clone(), &config).await?;
    chain_started(&store, &committer, &policy).await?;
    let calendar = Arc::new(calendar(&config)?);
    let metrics = Arc::new(crate::metrics::Metrics::new(
        policy.routes.iter().map(|r| r.id.as_str()),
    ));
    let transfers = transfers(&config, &store, calendar.clone(), metrics.clone()).await?;
    let webhook_secret = webhook_secret(&config)?;
    let bound = Bound::bind(&config).await?;
    log_ready(&store, &committer, &policy);
    let token_pattern = proxy::reveal_pattern(&policy.controller.token_domain);
    let policy = Arc::new(policy);
    let admin = Arc::new(Admin {
        store: store.clone(),
        keys: keys.clone(),
        policy: policy.clone(),
        committer: committer.clone(),
        verifier: verifier.clone(),
        limits: config.limits,
        calendar,
        facts: Arc::new(config.security_facts()),
        metrics: metrics.clone(),
        transfers: transfers.clone(),
        public_url: public_url(config.public_url.as_deref())?,
        link_ttl_s: i64::try_from(config.subject_link_ttl_s).unwrap_or(i64::MAX),
        metrics_token: metrics_token(&config)?,
        detokenize_slots: pdgate_admin::detokenize_slots(),
    });
    let client = pdgate_http::client();
    let (discovery, samples) = policy
        .discovery
        .then(crate::discovery::Discovery::new)
        .unzip();
    let background = Background {
        store: store.clone(),
        committer: committer.clone(),
        policy: policy.clone(),
        keys: keys.clone(),
        client: client.clone(),
        webhook_secret,
        transfers: transfers.clone(),
        samples,
    };
    let gateway = Arc::new(Gateway {
        policy,
        keys,
        store,
        committer,
        client,
        h1pool: Arc::default(),
        limits: config.limits,
        subject_token_ttl_s: i64::try_from(config.subject_token_ttl_s).unwrap_or(i64::MAX),
        public_url: public_url(config.public_url.as_deref())?,
        verifier,
        token_pattern,
        transfers,
        discovery,
        metrics,
    });
    Ok(Server {
        proxy_addr: bound.proxy_addr,
        admin_addr: bound.admin_addr,
        gateway,
        admin,
        background,
        writer_task,
        bound,
        config,
    })
}

/// The Art. 12 notifications, read once before the listeners open.
async fn transfers(
    config: &Config,
    store: &Store,
    calendar: Arc<crate::requests::calendar::Calendar>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<Arc<crate::transfers::Transfers>, ServeError> {
    let t = crate::transfers::Transfers::new(adequacy(config)?, calendar, metrics);
    t.refresh(store, crate::now_millis()).await?;
    Ok(Arc::new(t))
}

fn log_ready(store: &Store, committer: &Committer, policy: &Policy) {
    tracing::info!(
        backend = store.backend_name(),
        writer = committer.writer(),
        routes = policy.routes.len(),
        policy_sha256 = %policy.sha256,
        "vault ready"
    );
    for w in &policy.warnings {
        tracing::warn!(warning = %w, "policy");
    }
}

/// The admin API's token verifier; without one the API refuses every call.
fn verifier(config: &Config) -> Result<Option<Arc<pdgate_http::auth::Verifier>>, ServeError> {
    let verifier =
        pdgate_http::auth::Verifier::from_config(&config.admin).map_err(ServeError::Auth)?;
    if verifier.is_none() {
        tracing::warn!("no [admin] jwt_secret_file or jwks_file: the admin API and detokenize refuse every call");
    }
    Ok(verifier.map(Arc::new))
}

/// The key webhooks are signed with, when one is configured.
fn webhook_secret(
    config: &Config,
) -> Result<Option<Arc<crate::requests::outbox::Secret>>, ServeError> {
    let Some(path) = &config.webhooks.secret_file else {
        return Ok(None);
    };
    let secret = crate::requests::outbox::Secret::from_file(path)?;
    Ok(Some(Arc::new(secret)))
}

/// The bearer token `/metrics` takes, when one is configured.
fn metrics_token(config: &Config) -> Result<Option<Arc<zeroize::Zeroizing<Vec<u8>>>>, ServeError> {
    match &config.admin.metrics_token_file {
        Some(p) => Ok(Some(Arc::new(
            pdgate_http::auth::read_secret(p).map_err(ServeError::Auth)?,
        ))),
        None => Ok(None),
    }
}

/// Both listeners bound, with their TLS where configured.
struct Bound {
    proxy: TcpListener,
    admin: TcpListener,
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    admin_tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Bound {
    async fn bind(config: &Config) -> Result<Bound, ServeError> {
        let acceptor = |t: &Option<crate::config::Tls>| match t {
            Some(t) => pdgate_http::tls_acceptor(&t.cert, &t.key)
                .map(Some)
                .map_err(ServeError::Tls),
            None => Ok(None),
        };
        let tls = acceptor(&config.tls)?;
        let admin_tls = acceptor(&config.admin.tls)?;
        let proxy = bind(&config.listen, PROXY_SETTING).await?;
        let admin = bind(&config.admin_listen, ADMIN_SETTING).await?;
        let addr = |l: &TcpListener, listen: &str, setting| {
            l.local_addr().map_err(|e| ServeError::Bind {
                addr: listen.to_owned(),
                setting,
                source: e,
            })
        };
        Ok(Bound {
            proxy_addr: addr(&proxy, &config.listen, PROXY_SETTING)?,
            admin_addr: addr(&admin, &config.admin_listen, ADMIN_SETTING)?,
            proxy,
            admin,
            tls,
            admin_tls,
        })
    }
}

/// The working-day calendar (`[requests] calendar_file`, or the shipped Russian one), counted in
/// the operator's zone (`[legal] timezone`).
pub fn calendar(config: &Config) -> Result<crate::requests::calendar::Calendar, ServeError> {
    use crate::requests::calendar::Calendar;
    let calendar = data_file(
        config.requests.calendar_file.as_deref(),
        "[requests] calendar_file",
        Calendar::russia,
        Calendar::parse,
    )?;
    Ok(calendar.in_zone(config.legal.zone()))
}

/// The Art. 12 rule's parameters: the adequate countries (`[transfers] adequacy_file`, or the
/// shipped list) and `[transfers] delivery_days`.
pub fn adequacy(config: &Config) -> Result<crate::transfers::Adequacy, ServeError> {
    use crate::transfers::Adequacy;
    let list = data_file(
        config.transfers.adequacy_file.as_deref(),
        "[transfers] adequacy_file",
        Adequacy::shipped,
        Adequacy::parse,
    )?;
    Ok(list.with_delivery_days(config.transfers.delivery_days))
}

/// Data pdgate ships (calendar, country list), or the operator's replacement read from `path`.
fn data_file<T, E: std::error::Error + Send + Sync + 'static>(
    path: Option<&std::path::Path>,
    setting: &'static str,
    shipped: impl FnOnce() -> T,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ServeError> {
    let Some(path) = path else {
        return Ok(shipped());
    };
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| ServeError::DataFile {
        setting,
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.into()))?;
    parse(&text).map_err(|e| failed(e.into()))
}

/// This process's audit writer: a new chain, signed per `[audit]`, its checkpoints published
/// outside the database where `[audit]` says. The task ends once both have stopped.
async fn start_writer(
    store: &Store,
    keys: Arc<Keys>,
    config: &Config,
) -> Result<(Committer, tokio::task::JoinHandle<()>), ServeError> {
    let writer = format!("w-{}", uuid::Uuid::new_v4().simple());
    let publisher = checkpoint_publisher(config)?;
    if let Some(p) = &publisher {
        p.open()
            .await
            .map_err(ServeError::io("opening audit.checkpoint_file"))?;
    }
    let (publish, published) = match publisher {
        Some(p) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(tokio::spawn(p.run(rx))))
        }
        None => (None, None),
    };
    let (committer, writer) = Committer::start(
        store.clone(),
        Chain::new(writer),
        Some(Checkpoints {
            keys,
            entries: i64::try_from(config.audit.checkpoint_entries.max(1)).unwrap_or(i64::MAX),
            interval: Duration::from_secs(config.audit.checkpoint_interval_s.max(1)),
            publish,
        }),
    );
    let task = tokio::spawn(async move {
        let _ = writer.await;
        if let Some(p) = published {
            let _ = p.await;
        }
    });
    Ok((committer, task))
}

/// Where checkpoints go besides the database (`[audit] checkpoint_file`, `checkpoint_webhook_url`).
fn checkpoint_publisher(
    config: &Config,
) -> Result<Option<crate::audit::publish::Publisher>, ServeError> {
    let a = &config.audit;
    if a.checkpoint_file.is_none() && a.checkpoint_webhook_url.is_none() {
        return Ok(None);
    }
    let webhook = match &a.checkpoint_webhook_url {
        Some(url) => Some(crate::audit::publish::Webhook {
            client: pdgate_http::client(),
            url: url.clone(),
            sign: webhook_secret(config)?.map(|s| {
                let sign: crate::audit::publish::Signer = Arc::new(move |t, body| s.sign(t, body));
                sign
            }),
        }),
        None => None,
    };
    Ok(Some(crate::audit::publish::Publisher {
        file: a.checkpoint_file.clone(),
        webhook,
    }))
}

/// The first entry of a chain: which version ran which policies.
/// It commits to the latest signed heads of the other chains, so one dropped or cut later no
/// longer matches what its successor recorded.
async fn chain_started(
    store: &Store,
    committer: &Committer,
    policy: &Policy,
) -> Result<(), ServeError> {
    let seen = store
        .signed_heads(committer.writer(), crate::audit::SEEN_HEADS)
        .await?;
    committer
        .audit(
            crate::now_millis(),
            AuditEvent::ChainStarted {
                version: env!("CARGO_PKG_VERSION").into(),
                policy_sha256: policy.sha256.clone(),
                seen,
            },
        )
        .await?;
    Ok(())
}

/// `pdgate retention run`: one sweep at `now` on its own audit chain (ended by a checkpoint).
pub async fn retention_run(
    config: &Config,
    policy: Policy,
    kek: Kek,
    now: crate::Millis,
    dry_run: bool,
) -> Result<crate::retention::sweep::Report, ServeError> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    store.migrate().await?;
    let keys = Arc::new(unlock(&store, kek, load_previous_kek(config)?).await?);
    let (committer, task) = start_writer(&store, keys.clone(), config).await?;
    if !dry_run {
        chain_started(&store, &committer, &policy).await?;
    }
    let zone = config.legal.zone();
    let report =
        crate::retention::sweep::run(&store, &committer, &policy, &keys, &zone, now, dry_run).await;
    drop(committer);
    let _ = task.await;
    store.close().await;
    Ok(report?)
}

/// `pdgate keys rotate`: the key ring moved under `kek` (the old KEK from `previous_key_file`),
/// on an audit chain of its own. `progress` hears each batch.
pub async fn keys_rotate(
    config: &Config,
    kek: Kek,
    pace: crate::keys::Pace,
    progress: impl FnMut(&crate::keys::Rotation),
) -> Result<crate::keys::Rotation, ServeError> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    store.migrate().await?;
    let keys = Arc::new(unlock(&store, kek, load_previous_kek(config)?).await?);
    let (committer, task) = start_writer(&store, keys.clone(), config).await?;
    let report = crate::keys::rotate(&store, &keys, pace, progress).await;
    if let Ok(r) = &report {
        committer
            .audit(
                crate::now_millis(),
                AuditEvent::KekRotated {
                    to: r.to,
                    root_rewrapped: r.root_rewrapped,
                    data_keys: r.data_keys,
                    held_keys: r.held_keys,
                    unopenable: r.unopenable,
                    retired: r.retired,
                },
            )
            .await?;
    }
    drop(committer);
    let _ = task.await;
    store.close().await;
    Ok(report?)
}

/// What `pdgate backup` made.
#[derive(Debug, serde::Serialize)]
pub struct Backup {
    pub file: String,
    pub bytes: u64,
    pub taken_at: String,
    /// The KEK versions the copy's keys are wrapped under: destroying all of them (after a
    /// rotation away from them) leaves nothing in the copy readable.
    pub kek_versions: Vec<i64>,
}

/// `pdgate backup`: a consistent copy of the SQLite vault beside live traffic, into a new file.
pub async fn backup(config: &Config, out: &std::path::Path) -> Result<Backup, ServeError> {
    if out.exists() {
        return Err(ServeError::Io {
            what: "writing the backup: the file exists; choose a new name",
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    let path = out.to_string_lossy();
    let versions = store.backup_into(&path).await;
    store.close().await;
    let bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    Ok(Backup {
        file: path.into_owned(),
        bytes,
        taken_at: crate::rfc3339(crate::now_millis()),
        kek_versions: versions?,
    })
}

/// `pdgate keys status`: needs no key; the KEKs configured, if any, are named by version.
pub async fn keys_status(
    config: &Config,
    env_key: Option<&str>,
) -> Result<crate::keys::Status, ServeError> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    store.migrate().await?;
    let mut given = Vec::new();
    if let Ok((kek, _)) = load_kek(config, env_key, false) {
        given.push(("key", kek.check()));
    }
    if let Ok(Some(kek)) = load_previous_kek(config) {
        given.push(("previous", kek.check()));
    }
    let status = crate::keys::status(&store, &given).await;
    store.close().await;
    Ok(status?)
}

/// Unwraps (or on first start creates) the root secret under `kek` and derives every key.
/// `previous` is the KEK of a rotation in progress: it opens what is still wrapped under it. Each
/// KEK gets the version the key ring knows it by; a new one (given with the previous) becomes the
/// next version, under which this process wraps every new key from now on.
pub async fn unlock(store: &Store, kek: Kek, previous: Option<Kek>) -> Result<Keys, ServeError> {
    use crate::keyring::version_of;
    use crate::store::KeyRing;
    let candidate = RootSecret::generate();
    let (ring_version, wrapped) = store.root_secret((1, candidate.wrap(&kek))).await?;
    let opened = |k: &Kek| match RootSecret::unwrap(k, &wrapped) {
        Ok(r) => Ok(Some(r)),
        Err(KeyError::Unauthentic) => Ok(None),
        Err(other) => Err(ServeError::KeyRing(other)),
    };
    let now = crate::now_millis();
    let (root, root_kek, current_wraps_root) = match (opened(&kek)?, &previous) {
        (Some(root), _) => (root, &kek, true),
        (None, Some(p)) => (opened(p)?.ok_or(ServeError::WrongKey)?, p, false),
        (None, None) if ring_version > 1 => return Err(ServeError::RotatedKey(ring_version)),
        (None, None) => return Err(ServeError::WrongKey),
    };
    // The KEK that opened the root secret is the ring's version (databases from before versions
    // learn its check value now).
    let known = store
        .add_kek(Some(ring_version), &root_kek.check(), now)
        .await?;
    if known != Some(ring_version) {
        return Err(ServeError::RingVersions {
            which: if current_wraps_root {
                "the key"
            } else {
                "previous_key_file"
            },
            known: known.unwrap_or(0),
            ring: ring_version,
        });
    }
    let current = match current_wraps_root {
        true => ring_version,
        false => store
            .add_kek(None, &kek.check(), now)
            .await?
            .ok_or(ServeError::KekRace)?,
    };
    let versions = store.kek_versions().await?;
    let previous = previous.and_then(|p| {
        let Some(v) = version_of(&versions, &p.check()) else {
            tracing::warn!("previous_key_file names a KEK this key ring never used; it is ignored");
            return None;
        };
        if v.retired_at.is_some() {
            tracing::warn!(
                version = v.version,
                "previous_key_file is no longer needed: the rotation away from it has finished"
            );
        }
        Some(p.with_version(kek_version(v.version)))
    });
    let keys = Keys::derive(kek.with_version(kek_version(current)), &root).with_previous(
        previous
            .into_iter()
            .filter(|p| i64::from(p.version()) != current)
            .collect(),
    );
    // Databases from before the fingerprint get it now; a running replica compares against it.
    store.claim_root_id(keys.root_id()).await?;
    Ok(keys)
}

/// Versions are small positive numbers the key ring hands out one by one.
fn kek_version(v: i64) -> u32 {
    u32::try_from(v).expect("KEK versions count up from 1")
}

/// Records every consent text version in the database; an edited text that kept its version
/// would make existing records point at words nobody was shown, so it stops the start.
async fn register_consent_texts(store: &Store, policy: &Policy) -> Result<(), ServeError> {
    for t in &policy.consent_texts {
        let stored = store
            .register_consent_text(
                &t.id,
                i64::from(t.version),
                &t.sha256,
                &t.body,
                crate::now_millis(),
            )
            .await?;
        if stored != t.sha256 {
            return Err(ServeError::ConsentTextChanged {
                id: t.id.clone(),
                version: t.version.to_string(),
                stored,
            });
        }
    }
    Ok(())
}

/// How often a running replica checks that its database is still the one it started on.
const VAULT_CHECK_EVERY: Duration = Duration::from_secs(5);

const PROXY_SETTING: &str =
    "the proxy listener: `listen` in the config, PDGATE_LISTEN, or `demo --listen`";
const ADMIN_SETTING: &str =
    "the admin listener: `admin_listen` in the config, PDGATE_ADMIN_LISTEN, or `demo --admin-listen`";

/// `public_url` checked: an absolute http(s) URL without query or fragment, its `/` trimmed.
fn public_url(raw: Option<&str>) -> Result<Option<String>, ServeError> {
    let Some(raw) = raw else { return Ok(None) };
    let ok = raw.parse::<http::Uri>().is_ok_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https"))
            && u.host().is_some()
            && u.query().is_none()
    }) && !raw.contains('#');
    match ok {
        true => Ok(Some(raw.trim_end_matches('/').to_owned())),
        false => Err(ServeError::PublicUrl(raw.to_owned())),
    }
}

async fn bind(addr: &str, setting: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|e| ServeError::Bind {
        addr: addr.to_owned(),
        setting,
        source: e,
    })
}

/// Resolves once `rx` turns true: the shutdown signal every task waits for.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

impl Background {
    /// Runs the vault guard, the retention sweeper, the re-read of cross-border notifications,
    /// discovery and the webhook outbox until `rx` turns true.
    async fn run(self, config: &Config, ours: Ours, rx: watch::Receiver<bool>) {
        let guard = self.committer.clone().guard(
            self.store.clone(),
            ours,
            VAULT_CHECK_EVERY,
            stopped(rx.clone()),
        );
        let sweeper = {
            let (store, committer, policy, keys) = (
                self.store.clone(),
                self.committer,
                self.policy.clone(),
                self.keys.clone(),
            );
            let interval = config.retention.interval_s;
            let zone = config.legal.zone();
            let stop = stopped(rx.clone());
            async move {
                if interval > 0 {
                    let every = Duration::from_secs(interval);
                    let sweep = (store, committer, policy, keys);
                    crate::retention::sweep::every(sweep, zone, every, stop).await;
                }
            }
        };
        let notifications = self.transfers.clone().every(
            self.store.clone(),
            Duration::from_secs(config.transfers.refresh_s.max(1)),
            stopped(rx.clone()),
        );
        let discovery = {
            let (samples, store) = (self.samples, self.store.clone());
            let domain = self.policy.controller.token_domain.clone();
            let flush = Duration::from_millis(config.discovery.flush_ms.max(10));
            let stop = stopped(rx.clone());
            async move {
                if let Some(samples) = samples {
                    crate::discovery::run(samples, store, domain, flush, stop).await;
                }
            }
        };
        let outbox = crate::requests::outbox::run(
            self.store,
            self.client,
            self.webhook_secret,
            Duration::from_millis(config.webhooks.poll_ms.max(10)),
            stopped(rx),
        );
        tokio::join!(guard, sweeper, notifications, discovery, outbox);
    }
}

impl Server {
    /// Serves until `shutdown` resolves, then drains in-flight requests on both listeners.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let scheme = |tls: bool| if tls { "https" } else { "http" };
        let (proxy_scheme, admin_scheme) = (
            scheme(self.bound.tls.is_some()),
            scheme(self.bound.admin_tls.is_some()),
        );
        tracing::info!(listener = "proxy", addr = %self.proxy_addr, scheme = proxy_scheme, "listening");
        tracing::info!(listener = "admin", addr = %self.admin_addr, scheme = admin_scheme, "listening");
        let (tx, rx) = watch::channel(false);
        let ours = Ours::of(&self.gateway.keys);
        let grace = Duration::from_secs(self.config.shutdown_grace_s);
        let limits = self.config.limits;
        let proxy = pdgate_http::serve(
            self.bound.proxy,
            self.bound.tls,
            limits,
            self.gateway,
            stopped(rx.clone()),
            grace,
        );
        let admin = pdgate_http::serve(
            self.bound.admin,
            self.bound.admin_tls,
            limits,
            self.admin,
            stopped(rx.clone()),
            grace,
        );
        let store = self.background.store.clone();
        let background = self.background.run(&self.config, ours, rx);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = tx.send(true);
        };
        tokio::join!(proxy, admin, signal, background);
        // Both listeners are done and dropped their handles on the writer: it commits what is
        // queued, signs a last checkpoint and ends.
        if tokio::time::timeout(Duration::from_secs(10), self.writer_task)
            .await
            .is_err()
        {
            tracing::warn!("the audit writer did not finish in time");
        }
        // Bounded: a writer still stuck in a transaction would hold its connection forever.
        if tokio::time::timeout(Duration::from_secs(5), store.close())
            .await
            .is_err()
        {
            tracing::warn!("the database connections did not close in time");
        }
        tracing::info!("stopped");
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await,
            };
        tokio::select! {
            () = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
