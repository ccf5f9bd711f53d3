//! The `berth` binary: `berth serve` runs the control plane.

mod config;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use berth_core::{Berth, DemoCredentials, Settings};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::sync::watch;

use config::{Config, ServeArgs};

/// berth: a placement-group control plane for compute fleets.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs berth: the Linode v4 dialect under /v4 and /v4beta, on a SQLite database seeded
    /// with a demo fleet on first start.
    Serve(ServeArgs),
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
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(Config::resolve(args)?)),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = store::Store::open(&config.database)
        .await
        .with_context(|| format!("opening the database {}", config.database))?;
    let berth = Arc::new(Berth::new(store.clone(), Settings { migration_duration: config.migration_duration }));
    let credentials_path = credentials_path(&config.database);
    match berth.demo_seed(config.demo_token.clone()).await? {
        Some(credentials) => {
            write_credentials(&credentials_path, &credentials)?;
            println!(
                "Seeded the demo fleet and the demo account.\nDemo token: {}\n(saved to {}, readable only by you)",
                credentials.token,
                credentials_path.display()
            );
        }
        None => {
            if config.demo_token.is_some() {
                tracing::info!("the database is already seeded; --demo-token applies only to a new database");
            }
            println!("The demo token was saved to {} when this database was created.", credentials_path.display());
        }
    }

    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let background = tokio::spawn(server::run_background(berth.clone(), wait_for(stopped.clone())));
    tracing::info!(database = %config.database, "berth ready on http://{address}");
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    };
    server::serve(listener, server::router(berth), shutdown).await?;
    background.await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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

/// The credentials file sits beside the database: `berth.db` → `berth.db.credentials`.
fn credentials_path(database: &str) -> PathBuf {
    let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")).unwrap_or(database);
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}.credentials"))
}

/// Writes the demo credentials as a shell-sourceable file that only the owner can read.
fn write_credentials(path: &PathBuf, credentials: &DemoCredentials) -> anyhow::Result<()> {
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
    writeln!(
        file,
        "# berth demo credentials for user {}, written when the database was created.",
        credentials.username
    )?;
    writeln!(file, "LINODE_TOKEN={}", credentials.token)?;
    writeln!(file, "LINODE_CLI_TOKEN={}", credentials.token)?;
    Ok(())
}
