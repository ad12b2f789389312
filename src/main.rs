//! The `pdgate` command line: parses arguments, reads the environment once, and calls the library.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pdgate::config::{Config, LogFormat};
use pdgate::policy::Policy;
use pdgate::server;
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
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PDGATE_"))
        .collect();
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
    match runtime.block_on(run(cli, env)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pdgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, env: BTreeMap<String, String>) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, dev } => {
            let cfg = Config::load(config.as_deref(), &env)?;
            init_logs(cfg.log_format);
            let policy = Policy::load(&cfg.policies)?;
            let (kek, generated) =
                server::load_kek(&cfg, env.get("PDGATE_KEY").map(String::as_str), dev)?;
            if generated {
                tracing::warn!("DEV MODE: running on a random throwaway key; everything stored is unreadable after exit. Never use --dev in production.");
                eprintln!("pdgate: WARNING: --dev: running on a random throwaway key; data stored now is lost at exit");
            }
            let server = server::start(cfg, policy, kek).await?;
            server.run(server::shutdown_signal()).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            admin_listen,
            policies,
        } => {
            init_logs(LogFormat::Text);
            pdgate::demo::run(&listen, &admin_listen, &policies).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { config } => {
            let cfg = Config::load(config.as_deref(), &env)?;
            let store = Store::open(&cfg.database_url)
                .await
                .context("opening the database")?;
            store.migrate().await?;
            println!("migrations applied ({})", store.backend_name());
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy {
            command: PolicyCommand::Check { dir, config },
        } => {
            let dir = match dir {
                Some(d) => d,
                None => Config::load(config.as_deref(), &env)?.policies,
            };
            match Policy::load(&dir) {
                Ok(p) => {
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
    }
}

fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("PDGATE_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
