//! Configuration: `berth.toml`, overridden by `BERTH_*` environment variables, overridden by
//! flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use berth_core::{DemoOptions, Executor};
use clap::Args;
use serde::Deserialize;

/// The flags of `berth serve`; each also reads its environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file [default: ./berth.toml when it exists].
    #[arg(long, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BERTH_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The database: a SQLite file path or sqlite:// URL, or a postgres:// URL of an existing
    /// PostgreSQL database, which several berth processes may share [default: ./berth.db].
    #[arg(long, env = "BERTH_DATABASE_URL")]
    pub database: Option<String>,
    /// The demo account's token, used only when the demo is seeded on an empty database
    /// [default: a random token].
    #[arg(long, env = "BERTH_DEMO_TOKEN", hide_env_values = true)]
    pub demo_token: Option<String>,
    /// The demo account's Exoscale API key, used only when the demo is seeded [default: random].
    #[arg(long, env = "BERTH_DEMO_API_KEY")]
    pub demo_api_key: Option<String>,
    /// The demo account's Exoscale API secret, used only when the demo is seeded
    /// [default: random].
    #[arg(long, env = "BERTH_DEMO_API_SECRET", hide_env_values = true)]
    pub demo_api_secret: Option<String>,
    /// The operator's token for the native /v1 API, used only when the demo is seeded
    /// [default: random].
    #[arg(long, env = "BERTH_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<String>,
    /// The file holding the key that seals API secrets at rest; every process sharing a
    /// database needs the same key [default: the SQLite file's path with `.key` appended, or
    /// ./berth.key for PostgreSQL; created on first start].
    #[arg(long, env = "BERTH_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// The file the demo credentials are written to when the demo is seeded [default: the
    /// SQLite file's path with `.credentials` appended, or ./berth.credentials for PostgreSQL].
    #[arg(long, env = "BERTH_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// The base URL clients reach berth at, advertised by `GET /v2/zone`
    /// [default: http:// and the request's Host].
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The Exoscale zone that `/v2` addresses [default: ch-gva-2].
    #[arg(long, env = "BERTH_EXOSCALE_ZONE")]
    pub exoscale_zone: Option<String>,
    /// How long a migration takes, in seconds [default: 5].
    #[arg(long, env = "BERTH_MIGRATION_SECONDS")]
    pub migration_seconds: Option<f64>,
    /// Requests per minute each credential may make; 0 turns limits off [default: 1200].
    #[arg(long, env = "BERTH_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Who runs migrations: `embedded` (berth simulates them) or `external` (agents claim them
    /// through /v1) [default: embedded].
    #[arg(long, env = "BERTH_EXECUTOR")]
    pub executor: Option<String>,
    /// How long an external agent's lease on a migration lasts, in seconds [default: 30].
    #[arg(long, env = "BERTH_LEASE_SECONDS")]
    pub lease_seconds: Option<u64>,
    /// At most this many repair and drain migrations run at once [default: 4].
    #[arg(long, env = "BERTH_MAX_CONCURRENT_MIGRATIONS")]
    pub max_concurrent_migrations: Option<usize>,
    /// Whether berth repairs non-compliant groups by itself [default: true].
    #[arg(long, env = "BERTH_REPAIR")]
    pub repair: Option<bool>,
    /// How long the lease on background work lasts, in seconds: when the process running it
    /// dies, another of those sharing the database takes over within about this long
    /// [default: 5].
    #[arg(long, env = "BERTH_LEADER_LEASE_SECONDS")]
    pub leader_lease_seconds: Option<f64>,
}

/// `berth.toml`: every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    demo_token: Option<String>,
    demo_api_key: Option<String>,
    demo_api_secret: Option<String>,
    operator_token: Option<String>,
    secret_key_file: Option<PathBuf>,
    credentials_file: Option<PathBuf>,
    public_url: Option<String>,
    exoscale_zone: Option<String>,
    migration_seconds: Option<f64>,
    rate_limit: Option<u32>,
    executor: Option<String>,
    lease_seconds: Option<u64>,
    max_concurrent_migrations: Option<usize>,
    repair: Option<bool>,
    leader_lease_seconds: Option<f64>,
}

/// The configuration in force.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: String,
    pub demo: DemoOptions,
    pub secret_key_file: PathBuf,
    pub credentials_file: PathBuf,
    pub public_url: Option<String>,
    pub exoscale_zone: String,
    pub migration_duration: Duration,
    /// Requests per minute per credential; `None` when limits are off.
    pub rate_limit: Option<u32>,
    pub executor: Executor,
    pub max_concurrent_migrations: usize,
    pub repair: bool,
    pub leader_lease: Duration,
}

impl Config {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new("berth.toml").exists() => read_file(Path::new("berth.toml"))?,
            None => FileConfig::default(),
        };
        let migration_seconds = args.migration_seconds.or(file.migration_seconds).unwrap_or(5.0);
        if !(migration_seconds.is_finite() && (0.0..=86_400.0).contains(&migration_seconds)) {
            bail!("migration_seconds must be between 0 and 86400, not {migration_seconds}");
        }
        let demo = DemoOptions {
            token: credential("demo token", args.demo_token.or(file.demo_token), 16)?,
            api_key: credential("demo API key", args.demo_api_key.or(file.demo_api_key), 8)?,
            api_secret: credential("demo API secret", args.demo_api_secret.or(file.demo_api_secret), 16)?,
            operator_token: credential("operator token", args.operator_token.or(file.operator_token), 16)?,
        };
        let database = args.database.or(file.database).unwrap_or_else(|| "berth.db".to_string());
        let secret_key_file = args
            .secret_key_file
            .or(file.secret_key_file)
            .unwrap_or_else(|| PathBuf::from(format!("{}.key", local_base(&database))));
        let credentials_file = args
            .credentials_file
            .or(file.credentials_file)
            .unwrap_or_else(|| PathBuf::from(format!("{}.credentials", local_base(&database))));
        let leader_lease_seconds = args.leader_lease_seconds.or(file.leader_lease_seconds).unwrap_or(5.0);
        if !(leader_lease_seconds.is_finite() && (0.5..=600.0).contains(&leader_lease_seconds)) {
            bail!("leader_lease_seconds must be between 0.5 and 600, not {leader_lease_seconds}");
        }
        let public_url = args.public_url.or(file.public_url);
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("the public URL must start with http:// or https://, not {url:?}");
        }
        let lease = Duration::from_secs(args.lease_seconds.or(file.lease_seconds).unwrap_or(30));
        if lease.is_zero() || lease > Duration::from_secs(86_400) {
            bail!("the lease must be between 1 and 86400 seconds");
        }
        let executor = match args.executor.or(file.executor).as_deref() {
            None | Some("embedded") => Executor::Embedded,
            Some("external") => Executor::External { lease },
            Some(other) => bail!("the executor must be embedded or external, not {other:?}"),
        };
        let max_concurrent_migrations = args.max_concurrent_migrations.or(file.max_concurrent_migrations).unwrap_or(4);
        if max_concurrent_migrations == 0 {
            bail!("max_concurrent_migrations must be at least 1");
        }
        Ok(Config {
            executor,
            max_concurrent_migrations,
            repair: args.repair.or(file.repair).unwrap_or(true),
            leader_lease: Duration::from_secs_f64(leader_lease_seconds),
            credentials_file,
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database,
            demo,
            secret_key_file,
            public_url,
            exoscale_zone: args.exoscale_zone.or(file.exoscale_zone).unwrap_or_else(|| "ch-gva-2".to_string()),
            migration_duration: Duration::from_secs_f64(migration_seconds),
            rate_limit: match args.rate_limit.or(file.rate_limit).unwrap_or(1200) {
                0 => None,
                limit => Some(limit),
            },
        })
    }
}

/// A credential given for the demo: `min`–128 printable ASCII characters without spaces.
fn credential(what: &str, value: Option<String>, min: usize) -> anyhow::Result<Option<String>> {
    if let Some(value) = &value
        && (value.len() < min || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()))
    {
        bail!("the {what} must be {min}-128 printable ASCII characters without spaces");
    }
    Ok(value)
}

/// Where the files that go with a database live, less their extension: beside a SQLite file
/// (`sqlite://x.db?mode=rwc` → `x.db`), or `berth` in the working directory for a server.
fn local_base(database: &str) -> &str {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return "berth";
    }
    let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")).unwrap_or(database);
    path.split('?').next().unwrap_or(path)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            config: None,
            listen: None,
            database: None,
            demo_token: None,
            demo_api_key: None,
            demo_api_secret: None,
            operator_token: None,
            secret_key_file: None,
            credentials_file: None,
            public_url: None,
            exoscale_zone: None,
            migration_seconds: None,
            rate_limit: None,
            executor: None,
            lease_seconds: None,
            max_concurrent_migrations: None,
            repair: None,
            leader_lease_seconds: None,
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\ndatabase = \"file.db\"\n").unwrap();
        let config =
            Config::resolve(ServeArgs { config: Some(path.clone()), database: Some("flag.db".into()), ..args() })
                .unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.database, "flag.db");
        assert_eq!(config.migration_duration, Duration::from_secs(5));
        assert_eq!(config.secret_key_file, PathBuf::from("flag.db.key"));
        assert_eq!(config.credentials_file, PathBuf::from("flag.db.credentials"));
        assert_eq!(config.exoscale_zone, "ch-gva-2");
    }

    #[test]
    fn a_postgres_database_keeps_its_files_in_the_working_directory() {
        let config =
            Config::resolve(ServeArgs { database: Some("postgres://berth@db.internal/berth".into()), ..args() })
                .unwrap();
        assert_eq!(config.secret_key_file, PathBuf::from("berth.key"));
        assert_eq!(config.credentials_file, PathBuf::from("berth.credentials"));
        assert_eq!(config.leader_lease, Duration::from_secs(5));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(path), ..args() }).is_err());
    }

    #[test]
    fn a_short_demo_token_is_refused() {
        assert!(Config::resolve(ServeArgs { demo_token: Some("short".into()), ..args() }).is_err());
    }
}
