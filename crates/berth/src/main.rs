//! The `berth` binary: `berth serve` runs the control plane.

mod cli;
mod config;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use berth_core::{Berth, DemoCredentials, DemoOptions, SecretKey, Settings};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::sync::watch;

use config::{Config, ServeArgs};

/// berth: a placement-group control plane for compute fleets.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    connection: cli::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs berth: the Linode v4 dialect under /v4 and /v4beta, the Exoscale v2 dialect under
    /// /v2 and /{zone}/v2, and the operator API under /v1, on a SQLite file or a PostgreSQL
    /// database, seeded with a demo fleet on first start.
    Serve(Box<ServeArgs>),
    /// Hosts: list, show, drain, maintenance, fail, activate.
    #[command(subcommand)]
    Hosts(cli::HostCommand),
    /// Groups of every account: list, show.
    #[command(subcommand)]
    Groups(cli::GroupCommand),
    /// A dry run of a placement: the host berth would choose, and why the others were not.
    Explain {
        #[arg(long)]
        region: String,
        #[command(flatten)]
        size: cli::SizeArgs,
        /// A group the instance would join (repeatable).
        #[arg(long = "group")]
        groups: Vec<i64>,
        /// Treat flexible groups as strict.
        #[arg(long)]
        compliant_only: bool,
    },
    /// How many more members of a size a group can take.
    Headroom {
        group: i64,
        #[command(flatten)]
        size: cli::SizeArgs,
        /// The region to measure a global group in.
        #[arg(long)]
        region: Option<String>,
    },
    /// Migrations: list, plan.
    #[command(subcommand)]
    Migrations(cli::MigrationCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let connection = cli.connection;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(Config::resolve(*args)?)),
        Command::Hosts(command) => runtime.block_on(cli::hosts(&connection, command)),
        Command::Groups(command) => runtime.block_on(cli::groups(&connection, command)),
        Command::Explain { region, size, groups, compliant_only } => {
            runtime.block_on(cli::explain(&connection, region, size, groups, compliant_only))
        }
        Command::Headroom { group, size, region } => runtime.block_on(cli::headroom(&connection, group, size, region)),
        Command::Migrations(command) => runtime.block_on(cli::migrations(&connection, command)),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // One listener for SIGTERM and Ctrl-C from the start: a signal that arrives while the
    // database is awaited, or while the demo is seeded, still stops berth.
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let _serving = claim_sqlite_file(&config.database)?;
    let store = open_store(&config.database, stopped.clone()).await?;
    let secret_key = secret_key(&config.secret_key_file, &store).await?;
    let settings = Settings {
        migration_duration: config.migration_duration,
        executor: config.executor,
        max_concurrent_migrations: config.max_concurrent_migrations,
        repair: config.repair,
        secret_key,
        leader_lease: config.leader_lease,
        api_key_prefix: server::API_KEY_PREFIX.to_string(),
    };
    let berth = Arc::new(Berth::new(store.clone(), settings));
    let credentials_path = config.credentials_file.clone();
    match berth.demo_seed(&server::demo_fleet(), config.demo.clone()).await? {
        Some(credentials) => {
            write_credentials(&credentials_path, &credentials)?;
            println!(
                "Seeded the demo fleet and the demo account.\n\
                 Demo token (Linode): {}\n\
                 Demo API key and secret (Exoscale): {} {}\n\
                 Operator token (/v1): {}\n\
                 (saved to {}, readable only by you)",
                credentials.token,
                credentials.api_key,
                credentials.api_secret,
                credentials.operator_token,
                credentials_path.display()
            );
        }
        None => {
            if config.demo != DemoOptions::default() {
                tracing::info!("the database is already seeded; the demo credentials given apply only to a new one");
            }
            println!(
                "The demo credentials were saved to {} when this database was created.",
                credentials_path.display()
            );
        }
    }

    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let background = tokio::spawn(server::run_background(berth.clone(), wait_for(stopped.clone())));
    let server_settings = server::Settings {
        exoscale_zone: config.exoscale_zone.clone(),
        public_url: config.public_url,
        rate_limit: config
            .rate_limit
            .map(|requests| server::RateLimit { requests, window: std::time::Duration::from_secs(60) }),
    };
    // It listens at once (`/healthz` answers, `/readyz` says it is loading), and is ready once
    // the background work has loaded every region's fleet.
    let announce = {
        let berth = berth.clone();
        let database = redact(&config.database);
        tokio::spawn(async move {
            while !berth.fleets_loaded() {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            tracing::info!(%database, process = berth.process_id(), "berth ready on http://{address}");
        })
    };
    server::serve(listener, server::router(berth, server_settings), wait_for(stopped)).await?;
    announce.abort();
    background.await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// A SQLite file serves one berth process (one writer, and each process keeps its fleets in
/// memory): the first to serve it holds an exclusive lock on `PATH.lock` for as long as it
/// runs, and any other is refused. The operating system drops the lock when the process ends,
/// however it ends. Several processes share a database on PostgreSQL.
fn claim_sqlite_file(database: &str) -> anyhow::Result<Option<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let Some(path) = store::sqlite_path(database) else { return Ok(None) };
    let lock_path = format!("{path}.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {lock_path}"))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            Ok(Some(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (process {pid})"),
            };
            anyhow::bail!(
                "another berth process{holder} already serves the SQLite database {path}: a SQLite file \
                 serves one process; to run several berth processes on one database, use PostgreSQL \
                 (--database postgres://...)"
            )
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("locking {lock_path}")),
    }
}

/// Opens the database, waiting for it while it cannot be reached (a server that starts after
/// berth, or restarts): any other failure (a bad URL, a refused login, a failed migration)
/// ends the start. Stops waiting at SIGTERM or Ctrl-C.
async fn open_store(database: &str, stopped: watch::Receiver<bool>) -> anyhow::Result<store::Store> {
    let shown = redact(database);
    let mut delay = std::time::Duration::from_millis(250);
    let stop = wait_for(stopped);
    tokio::pin!(stop);
    loop {
        let opened = tokio::select! {
            opened = store::Store::open(database) => opened,
            _ = &mut stop => anyhow::bail!("stopped while waiting for the database {shown}"),
        };
        match opened {
            Ok(store) => return Ok(store),
            Err(error) if error.failure() == store::Failure::Unavailable => {
                tracing::warn!(database = %shown, error = ?error, "the database cannot be reached yet; retrying");
            }
            Err(error) => return Err(error).with_context(|| format!("opening the database {shown}")),
        }
        tokio::select! {
            _ = &mut stop => anyhow::bail!("stopped while waiting for the database {shown}"),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

/// A database URL fit for a log: without the password it may carry.
fn redact(database: &str) -> String {
    let Some((scheme, rest)) = database.split_once("://") else { return database.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return database.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => database.to_string(),
    }
}

/// The key that seals API secrets: read from its file, or created there (readable only by its
/// owner) when the database holds no sealed secret yet. A database with secrets and no key is
/// refused: the secrets could never be opened.
async fn secret_key(path: &Path, store: &store::Store) -> anyhow::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey::from_hex(&text)
            .with_context(|| format!("{} does not hold a secret key (64 hex digits)", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let sealed = berth_core::sealed_secret_count(store).await?;
            if sealed > 0 {
                anyhow::bail!(
                    "the secret key file {} is missing, and the database holds {sealed} API secret(s) sealed with it",
                    path.display()
                );
            }
            let key = SecretKey::generate();
            write_private(path, &format!("{}\n", key.to_hex()))?;
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

/// Writes the demo credentials as a shell-sourceable file that only the owner can read.
fn write_credentials(path: &Path, credentials: &DemoCredentials) -> anyhow::Result<()> {
    let text = format!(
        "# berth demo credentials for user {}, written when the database was created.\n\
         LINODE_TOKEN={}\n\
         LINODE_CLI_TOKEN={}\n\
         EXOSCALE_API_KEY={}\n\
         EXOSCALE_API_SECRET={}\n\
         BERTH_OPERATOR_TOKEN={}\n",
        credentials.username,
        credentials.token,
        credentials.token,
        credentials.api_key,
        credentials.api_secret,
        credentials.operator_token
    );
    write_private(path, &text)
}

/// Writes a file that only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // The mode above applies only to a new file; an old one keeps its mode unless reset.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
