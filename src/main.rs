//! The `pdgate` command line: parses arguments, reads the environment once, and calls the library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pdgate::audit::export::{self, Format};
use pdgate::auth::{self, Role};
use pdgate::config::{Config, LogFormat};
use pdgate::policy::Policy;
use pdgate::server;
use zeroize::Zeroizing;

mod key_env;
use pdgate::store::{Backend, Store};

#[derive(Parser)]
#[command(
    name = "pdgate",
    version,
    about = "Privacy-compliance gateway for 152-FZ and GDPR"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (proxy and admin listeners).
    Serve {
        /// TOML config file; without one, defaults and PDGATE_* variables apply.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run without a configured key on a random throwaway key. Never in production.
        #[arg(long)]
        dev: bool,
    },
    /// Gateway + sample CRM + example shop policies on a temporary SQLite; prints what to try.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value = "127.0.0.1:8081")]
        admin_listen: String,
        #[arg(long, default_value = "policies")]
        policies: PathBuf,
    },
    /// The demo's sample CRM alone: answers every request and prints what it received (a first
    /// upstream for `serve`; the shipped policies send to 127.0.0.1:9000).
    SampleCrm {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
    },
    /// Exit 0 when the gateway's admin listener answers /readyz with 200 (a container
    /// HEALTHCHECK without curl). The address is the config's `admin_listen`, a wildcard asked on
    /// loopback.
    Health {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// What the free-text detectors (the `redact` action, discovery) find: reads JSON lines
    /// `{"text": …}` on stdin, prints one line `{"findings": [{"kind", "start", "end"}]}` each,
    /// offsets in characters. The `[detectors]` regions come from the config.
    Detect {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Addresses in this domain are pdgate's own e-mail tokens and not reported.
        #[arg(long, default_value = "")]
        token_domain: String,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Admin-API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Audit log export and offline verification.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The processing-activity register.
    Register {
        #[command(subcommand)]
        command: RegisterCommand,
    },
    /// Retention.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// A consistent copy of the SQLite vault, taken beside live traffic (PostgreSQL: pg_dump or
    /// pg_basebackup, see README "Backups").
    Backup {
        #[arg(long)]
        config: Option<PathBuf>,
        /// The new file to write (it must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// The key ring: KEK rotation and its progress.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rewrap the root secret and every data and held key under the configured KEK, taking the
    /// old one from `previous_key_file`, beside live traffic; run again to resume.
    Rotate {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Subjects rewrapped per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: u32,
        /// Milliseconds to rest after each transaction that rewrapped keys, leaving the database
        /// to live traffic.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
    /// Print the KEK versions, what each wraps and whether a rotation is complete (JSON).
    Status {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RegisterCommand {
    /// Write the register as the admin API serves it, with today's live figures.
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        /// gdpr (Art. 30 record) or fz152 (Art. 22(3) notification).
        #[arg(long, default_value = "gdpr")]
        view: String,
        /// json, csv, md or html.
        #[arg(long, default_value = "json")]
        format: String,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Run one sweep now and print what it erased (or, with --dry-run, what it would erase).
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
        /// Sweep as if it were this time (RFC 3339 or Unix ms): "what goes on that date".
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print an HS256 token signed with `[admin] jwt_secret_file` (development and tests).
    Issue {
        #[arg(long)]
        config: Option<PathBuf>,
        /// admin, dpo, auditor or service.
        #[arg(long)]
        role: String,
        /// For --role service: the declared service the token speaks for.
        #[arg(long)]
        service: Option<String>,
        /// Lifetime: 3600, 90s, 15m, 12h, 7d or ISO 8601 (PT1H).
        #[arg(long)]
        ttl: String,
        /// The `sub` claim (who holds the token); default: the role.
        #[arg(long)]
        sub: Option<String>,
        /// A staff token for reveal routes (`aud`: `[admin] staff_audience`), which the admin API
        /// refuses; without it, a token for the admin listener, which reveal routes refuse.
        #[arg(long)]
        staff: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit log (or a time window of it) as the admin API exports it.
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        /// RFC 3339 or Unix milliseconds.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// jsonl (default) or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check an export offline; exit 0 when intact, 1 naming the first bad entry.
    Verify {
        file: PathBuf,
        /// The deployment's checkpoint key (hex, from /admin/v1/audit/key); pins who signed.
        #[arg(long)]
        public_key: Option<String>,
        /// A file of signed checkpoints written outside the database (`[audit] checkpoint_file`;
        /// repeat for each replica's): every chain and entry it vouches for must be in the
        /// export (from `--since` on, for a time window).
        #[arg(long)]
        checkpoints: Vec<PathBuf>,
        /// The start of the export's time window (as given to the export; RFC 3339 or Unix ms):
        /// what was vouched for before it is not looked for. Without it the export is taken as
        /// the whole log.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policies directory; prints every error with file:line, exits non-zero on any.
    Check {
        /// Directory (default: `policies`, or the config's `policies`).
        dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_serve = matches!(cli.command, Command::Serve { .. });
    if key_env::should_reexec(is_serve) {
        let e = key_env::reexec_without_key();
        eprintln!("pdgate: WARNING: PDGATE_KEY stays readable in /proc/PID/environ: {e}");
    }
    let mut env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PDGATE_"))
        .collect();
    let key = match take_key(&mut env, is_serve) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("pdgate: {}: {e}", key_env::ON_STDIN_VAR);
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pdgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, env, key.as_ref().map(|k| k.as_str()))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pdgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The KEK given as text: from stdin where `serve` executed itself with it there
/// (`key_env`), else from `PDGATE_KEY`; neither variable stays in the process's environment or
/// in `env`, so no later copy of either is made.
fn take_key(
    env: &mut BTreeMap<String, String>,
    is_serve: bool,
) -> std::io::Result<Option<Zeroizing<String>>> {
    let on_stdin = env.remove(key_env::ON_STDIN_VAR).is_some() && is_serve;
    let from_env = env.remove(key_env::KEY_VAR).map(Zeroizing::new);
    std::env::remove_var(key_env::KEY_VAR);
    std::env::remove_var(key_env::ON_STDIN_VAR);
    match on_stdin {
        true => key_env::key_from_stdin().map(Some),
        false => Ok(from_env),
    }
}

/// `pdgate detect`: one line of findings per line of input.
fn detect_lines(token_domain: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        // serde's message can quote the input (a bare string is "invalid type: string …"): only
        // where it failed is reported, never what the line held.
        let Line { text } = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "line {}, column {}: expected {{\"text\": \"…\"}} ({:?} error)",
                n + 1,
                e.column(),
                e.classify()
            )
        })?;
        let chars = |byte: usize| text[..byte].chars().count();
        let findings: Vec<_> = pdgate::actions::detect::detect(&text, token_domain)
            .into_iter()
            .map(|f| {
                serde_json::json!({"kind": f.kind, "start": chars(f.start), "end": chars(f.end)})
            })
            .collect();
        serde_json::to_writer(&mut out, &serde_json::json!({ "findings": findings }))?;
        out.write_all(b"\n")?;
    }
    out.flush().context("writing stdout")
}

async fn run(
    cli: Cli,
    env: BTreeMap<String, String>,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, dev } => serve(config.as_deref(), dev, &env, key).await,
        Command::Demo {
            listen,
            admin_listen,
            policies,
        } => {
            init_logs(LogFormat::Text);
            pdgate::demo::run(&listen, &admin_listen, &policies).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::SampleCrm { listen } => {
            pdgate::demo::run_sample_crm(&listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { config } => {
            let cfg = Config::load(config.as_deref(), &env)?;
            match pdgate::admin::probe_ready(&cfg.admin_listen, cfg.admin.tls.as_ref()).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(why) => {
                    eprintln!("pdgate health: {why}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Detect {
            config,
            token_domain,
        } => {
            Config::load(config.as_deref(), &env)?;
            detect_lines(&token_domain)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { config } => migrate(config.as_deref(), &env).await,
        Command::Token { command } => token(command, &env).await,
        Command::Register {
            command:
                RegisterCommand::Export {
                    config,
                    view,
                    format,
                    out,
                },
        } => register_export(config.as_deref(), &view, &format, out, &env).await,
        Command::Audit { command } => audit(command, &env).await,
        Command::Keys { command } => keys(command, &env, key).await,
        Command::Backup { config, out } => {
            let cfg = Config::load(config.as_deref(), &env)?;
            let made = server::backup(&cfg, &out).await?;
            println!("{}", serde_json::to_string_pretty(&made)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention {
            command:
                RetentionCommand::Run {
                    config,
                    dry_run,
                    now,
                },
        } => retention_run(config.as_deref(), dry_run, now.as_deref(), &env, key).await,
        Command::Policy {
            command: PolicyCommand::Check { dir, config },
        } => policy_check(dir, config.as_deref(), &env),
    }
}

/// `pdgate serve`: runs until SIGTERM or Ctrl-C.
async fn serve(
    config: Option<&Path>,
    dev: bool,
    env: &BTreeMap<String, String>,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config, env)?;
    init_logs(cfg.log_format);
    let policy = load_policy(&cfg, env)?;
    let (kek, generated) = server::load_kek(&cfg, key, dev)?;
    if generated {
        tracing::warn!("DEV MODE: running on a random throwaway key; everything stored is unreadable after exit. Never use --dev in production.");
        eprintln!("pdgate: WARNING: --dev: running on a random throwaway key; data stored now is lost at exit");
    }
    let server = server::start(cfg, policy, kek).await?;
    server.run(server::shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// `pdgate migrate`: applies the migrations and exits.
async fn migrate(
    config: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config, env)?;
    let store = Store::open(&cfg.database_url)
        .await
        .context("opening the database")?;
    store.migrate().await?;
    println!("migrations applied ({})", store.backend_name());
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `pdgate register export`: the register as the running gateway would serve it.
async fn register_export(
    config: Option<&Path>,
    view: &str,
    format: &str,
    out: Option<PathBuf>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    use pdgate::register::{self, render};
    let cfg = Config::load(config, env)?;
    let view = register::View::parse(view).context("--view must be gdpr or fz152")?;
    let format =
        render::Format::parse(format).context("--format must be json, csv, md, html or form")?;
    let policy = load_policy(&cfg, env)?;
    let store = Store::open(&cfg.database_url)
        .await
        .context("opening the database")?;
    let now = pdgate::now_millis();
    let live = register::read_live(&store, &policy, now)
        .await
        .context("reading the live figures (has `pdgate migrate` run?)")?;
    store.close().await;
    let inputs = register::Inputs {
        policy: &policy,
        facts: &cfg.security_facts(),
        live: &live,
        adequacy: &server::adequacy(&cfg)?,
        calendar: &server::calendar(&cfg)?,
        now,
    };
    let text = register::document(view, format, &inputs)
        .context("--format form is Roskomnadzor's notification form: use it with --view fz152")?;
    match out {
        Some(p) => {
            std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
            let doc = register::build(view, &inputs);
            eprintln!(
                "{} items, {} gaps",
                doc.sections.iter().map(|s| s.items.len()).sum::<usize>(),
                doc.gaps.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `pdgate retention run`: one sweep now (or at `--now`), or what it would do.
async fn retention_run(
    config: Option<&Path>,
    dry_run: bool,
    now: Option<&str>,
    env: &BTreeMap<String, String>,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config, env)?;
    let now = match now {
        Some(s) => pdgate::parse_time(s).with_context(|| format!("`{s}`: RFC 3339 or Unix ms"))?,
        None => pdgate::now_millis(),
    };
    let policy = load_policy(&cfg, env)?;
    let (kek, _) = server::load_kek(&cfg, key, false)?;
    let report = server::retention_run(&cfg, policy, kek, now, dry_run).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `pdgate audit verify`: the export intact, and holding everything vouched for.
fn verify_export(
    file: &Path,
    public_key: Option<&str>,
    checkpoints: &[PathBuf],
    since: Option<pdgate::Millis>,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let pinned = public_key
        .map(|k| data_encoding::HEXLOWER_PERMISSIVE.decode(k.trim().as_bytes()))
        .transpose()
        .context("--public-key must be hex")?;
    let files = checkpoints
        .iter()
        .map(|f| std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Ok(text) = String::from_utf8(bytes) else {
        eprintln!(
            "{}: not UTF-8 text: not an intact pdgate audit export",
            file.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    let v = match export::verify(&text, pinned.as_deref()) {
        Ok(v) => v,
        Err(b) => {
            eprintln!("{}: BROKEN at {b}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    print!("{v}");
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    match pdgate::audit::completeness::check(&text, &v, &files, pinned.as_deref(), since) {
        Ok(c) => println!(
            "{}: intact; holds the {} entries chain starts vouch for and the {} the checkpoint files do",
            file.display(),
            c.by_chain_starts,
            c.by_checkpoint_files
        ),
        Err(m) => {
            eprintln!("{}: INCOMPLETE: {m}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    }
    if pinned.is_none() {
        println!("note: checkpoints were checked against the key they name; pass --public-key to pin the deployment's key");
    }
    if checkpoints.is_empty() {
        println!("note: without --checkpoints a dropped newest chain or a cut tail no later chain saw goes unnoticed");
    }
    Ok(ExitCode::SUCCESS)
}

/// `pdgate keys rotate` / `status`.
async fn keys(
    cmd: KeysCommand,
    env: &BTreeMap<String, String>,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Rotate {
            config,
            batch,
            pause_ms,
        } => {
            let cfg = Config::load(config.as_deref(), env)?;
            let (kek, _) = server::load_kek(&cfg, key, false)?;
            let pace = pdgate::keys::Pace {
                batch: i64::from(batch),
                pause: std::time::Duration::from_millis(pause_ms),
            };
            let report = server::keys_rotate(&cfg, kek, pace, |r| {
                eprintln!(
                    "{} subjects scanned, {} data keys and {} held keys rewrapped",
                    r.subjects_scanned, r.data_keys, r.held_keys
                );
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(match report.retired {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            })
        }
        KeysCommand::Status { config } => {
            let cfg = Config::load(config.as_deref(), env)?;
            let status = server::keys_status(&cfg, key).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `pdgate policy check`: every problem of the policies, with file and line.
fn policy_check(
    dir: Option<PathBuf>,
    config: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => Config::load(config, env)?.policies,
    };
    match Policy::load(&dir) {
        Ok(p) => {
            for w in &p.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: ok ({} routes, {} purposes, {} consent texts)",
                dir.display(),
                p.routes.len(),
                p.purposes.len(),
                p.consent_texts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn token(cmd: TokenCommand, env: &BTreeMap<String, String>) -> anyhow::Result<ExitCode> {
    let TokenCommand::Issue {
        config,
        role,
        service,
        ttl,
        sub,
        staff,
    } = cmd;
    let cfg = Config::load(config.as_deref(), env)?;
    let role = Role::parse(&role)
        .with_context(|| format!("unknown role `{role}` (admin, dpo, auditor, service)"))?;
    if role == Role::Service && service.is_none() {
        anyhow::bail!("--role service needs --service naming a service declared in the policies");
    }
    let ttl = parse_ttl(&ttl)
        .with_context(|| format!("--ttl `{ttl}`: use 3600, 90s, 15m, 12h, 7d or PT1H"))?;
    let now = pdgate::now_millis() / 1000;
    let sub = sub.unwrap_or_else(|| role.as_str().to_owned());
    let use_ = if staff {
        auth::Use::Staff
    } else {
        auth::Use::Admin
    };
    let t = auth::issue(&cfg.admin, use_, role, service.as_deref(), &sub, now, ttl)?;
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn parse_ttl(s: &str) -> Option<i64> {
    if s.starts_with('P') {
        let d = pdgate::policy::duration::IsoDuration::parse(s).ok()?;
        return Some((d.after(0) / 1000).max(1));
    }
    let (num, mult) = match s.char_indices().last()? {
        (i, 's') => (&s[..i], 1),
        (i, 'm') => (&s[..i], 60),
        (i, 'h') => (&s[..i], 3600),
        (i, 'd') => (&s[..i], 86_400),
        _ => (s, 1),
    };
    num.parse::<i64>().ok().filter(|n| *n > 0).map(|n| n * mult)
}

async fn audit(cmd: AuditCommand, env: &BTreeMap<String, String>) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Export {
            config,
            since,
            until,
            format,
            out,
        } => {
            let cfg = Config::load(config.as_deref(), env)?;
            let format = Format::parse(&format).context("--format must be jsonl or csv")?;
            let time = |v: &Option<String>| -> anyhow::Result<Option<i64>> {
                v.as_deref()
                    .map(|s| {
                        pdgate::parse_time(s).with_context(|| format!("`{s}`: RFC 3339 or Unix ms"))
                    })
                    .transpose()
            };
            let (since, until) = (time(&since)?, time(&until)?);
            let store = Store::open(&cfg.database_url)
                .await
                .context("opening the database")?;
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut pages = std::pin::pin!(export::stream(store.clone(), since, until, format));
            let mut lines = 0usize;
            while let Some(chunk) = futures_util::StreamExt::next(&mut pages).await {
                let chunk = chunk?;
                lines += chunk.iter().filter(|&&b| b == b'\n').count();
                sink.write_all(&chunk)?;
            }
            let n = lines.saturating_sub(usize::from(!format.header().is_empty()));
            sink.flush()?;
            store.close().await;
            if out.is_some() {
                eprintln!("{n} audit entries written");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            file,
            public_key,
            checkpoints,
            since,
        } => {
            let since = since
                .map(|s| {
                    pdgate::parse_time(&s)
                        .with_context(|| format!("--since `{s}`: RFC 3339 or Unix ms"))
                })
                .transpose()?;
            verify_export(&file, public_key.as_deref(), &checkpoints, since)
        }
    }
}

/// The policies of `cfg`, with upstream URLs replaced from the environment.
fn load_policy(cfg: &Config, env: &BTreeMap<String, String>) -> anyhow::Result<Policy> {
    let mut policy = Policy::load(&cfg.policies).map_err(|e| anyhow::anyhow!("{e}"))?;
    for id in policy.override_upstream_urls(env)? {
        tracing::info!(upstream = %id, "upstream URL set from the environment");
    }
    Ok(policy)
}

fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("PDGATE_LOG").unwrap_or_else(|_| "info".into());
    // Colours only for a person at a terminal: a file, journald or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
