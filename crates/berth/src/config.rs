//! Configuration: `berth.toml`, overridden by `BERTH_*` environment variables, overridden by
//! flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
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
    /// The database: a SQLite file path or sqlite:// URL [default: ./berth.db].
    #[arg(long, env = "BERTH_DATABASE_URL")]
    pub database: Option<String>,
    /// The demo account's token, used only when the demo is seeded on an empty database
    /// [default: a random token].
    #[arg(long, env = "BERTH_DEMO_TOKEN", hide_env_values = true)]
    pub demo_token: Option<String>,
    /// How long a migration takes, in seconds [default: 5].
    #[arg(long, env = "BERTH_MIGRATION_SECONDS")]
    pub migration_seconds: Option<f64>,
}

/// `berth.toml`: every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    demo_token: Option<String>,
    migration_seconds: Option<f64>,
}

/// The configuration in force.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: String,
    pub demo_token: Option<String>,
    pub migration_duration: Duration,
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
        let demo_token = args.demo_token.or(file.demo_token);
        if let Some(token) = &demo_token
            && (token.len() < 16 || token.len() > 128 || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            bail!("the demo token must be 16-128 printable ASCII characters without spaces");
        }
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database: args.database.or(file.database).unwrap_or_else(|| "berth.db".to_string()),
            demo_token,
            migration_duration: Duration::from_secs_f64(migration_seconds),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs { config: None, listen: None, database: None, demo_token: None, migration_seconds: None }
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
