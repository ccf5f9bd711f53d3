//! berth's domain: accounts and their credentials, placement groups, instances, hosts and
//! migrations, and the rules that tie them to the placement engine.
//!
//! `core` knows nothing of HTTP or of any dialect's wire shapes. Each public method of
//! [`Berth`] takes validated domain types and the calling [`Principal`], and returns domain
//! results or an [`Error`]. Every change runs in one store transaction that re-validates the
//! engine's decision before it commits.

mod authz;
mod convert;
mod error;
mod events;
mod firewalls;
mod fleet_ops;
mod fleets;
mod groups;
mod insight;
mod instances;
mod leadership;
mod migrations;
mod model;
mod operations;
mod placing;
mod reconcile;
mod secrets;
mod seed;
mod tenancy;
mod validate;

pub mod auth;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::Store;

pub use error::{Act, Conflict, Denial, Error, Field, Form, GroupRef, Limit, Problem, Refusal, Result};
pub use fleet_ops::{HostCreate, HostDetail, HostFilter, HostUpdate, RegionCreate};
pub use insight::{ExplainPlacement, Explained, GroupDetail, GroupFilter, InstanceFilter};
pub use leadership::renew_interval;
pub use migrations::{Executor, MigrationFilter, MigrationJob};
pub use model::*;
pub use operations::{OPERATION_RETENTION, OperationRequest};
pub use placement::{Headroom, JoinAssessment};
pub use reconcile::ReconcileReport;
pub use secrets::{SecretKey, sealed_secret_count};
pub use seed::{DemoCredentials, DemoOptions, FleetSeed, RackSeed, RegionSeed};
pub use tenancy::EntityPermission;

/// Tunables of the domain.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a migration takes from start to completion, with the embedded executor.
    pub migration_duration: Duration,
    /// Who carries migrations out.
    pub executor: Executor,
    /// At most this many repair and drain migrations run at once.
    pub max_concurrent_migrations: usize,
    /// Whether the reconciler repairs non-compliant groups by itself.
    pub repair: bool,
    /// The key that seals API secrets at rest. It must stay the same across restarts (the
    /// binary keeps it in a file beside the database); the default is a fresh random key, fit
    /// only for a database that lives as long as the process.
    pub secret_key: SecretKey,
    /// How long the lease on background work lasts without renewal: when the process that
    /// holds it dies, another takes the work over within about this long.
    pub leader_lease: Duration,
    /// What every API key berth issues starts with: clients of the dialect that verifies
    /// them may expect their provider's prefix. The default is none.
    pub api_key_prefix: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            migration_duration: Duration::from_secs(5),
            executor: Executor::Embedded,
            max_concurrent_migrations: 4,
            repair: true,
            secret_key: SecretKey::generate(),
            leader_lease: Duration::from_secs(5),
            api_key_prefix: String::new(),
        }
    }
}

/// The application: the store, the cached fleets and the settings, shared by every request.
#[derive(Debug)]
pub struct Berth {
    store: Store,
    fleets: fleets::Fleets,
    settings: Settings,
    /// This process's name in the lease table, unique per start.
    process_id: String,
    lease: leadership::LeaseState,
    /// Whether every region's fleet has been loaded once since start ([`Berth::fleets_load`]).
    fleets_loaded: AtomicBool,
}

impl Berth {
    pub fn new(store: Store, settings: Settings) -> Berth {
        let process_id = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Berth {
            store,
            fleets: fleets::Fleets::default(),
            settings,
            process_id,
            lease: Default::default(),
            fleets_loaded: AtomicBool::new(false),
        }
    }

    /// Loads the fleet of every region into the cache that host choice reads, so that no
    /// request pays for it: the server does this at start, before it says it is ready. Each
    /// region loads inside a write transaction, as a change's would (see the region cache),
    /// so that on SQLite no change commits while it loads. Returns how many regions it
    /// loaded. A region that a request loaded first is not loaded again.
    pub async fn fleets_load(&self) -> Result<usize> {
        let regions = self.regions().await?;
        for region in &regions {
            let mut tx = self.store.write().await?;
            self.fleets.region(&mut tx.db(), &region.id).await?;
        }
        self.fleets_loaded.store(true, Ordering::Release);
        Ok(regions.len())
    }

    /// Whether [`Berth::fleets_load`] has run to its end: until then `/readyz` says the
    /// process is still loading.
    pub fn fleets_loaded(&self) -> bool {
        self.fleets_loaded.load(Ordering::Acquire)
    }

    /// Whether the database answers: what `/readyz` reports.
    pub async fn database_ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub async fn regions(&self) -> Result<Vec<Region>> {
        let rows = self.store.read().await?.db().regions().await?;
        rows.into_iter().map(convert::region).collect()
    }

    pub async fn region(&self, id: &RegionId) -> Result<Region> {
        match self.store.read().await?.db().region_get(id.as_str()).await? {
            Some(row) => convert::region(row),
            None => Err(Error::not_found(Thing::Region)),
        }
    }

    /// Every host of a region.
    pub async fn hosts(&self, region: &RegionId) -> Result<Vec<Host>> {
        let rows = self.store.read().await?.db().hosts_in_region(region.as_str()).await?;
        rows.iter().map(convert::host).collect()
    }

    /// Validates every invariant of a region as stored: the engine's `check()` over a fresh
    /// fleet, and the hosts' usage counters against the sum of their instances. Returns the
    /// violations found, as sentences. Every read sees one snapshot of the database, so a
    /// change committing meanwhile is either wholly seen or not at all.
    pub async fn region_check(&self, region: &RegionId) -> Result<Vec<String>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let fleet = fleets::load_region(&mut db, region).await?;
        let mut violations: Vec<String> = match fleet.check() {
            Ok(()) => Vec::new(),
            Err(found) => found.iter().map(ToString::to_string).collect(),
        };
        for row in db.hosts_in_region(region.as_str()).await? {
            let stored = convert::host(&row)?;
            if let Some(engine) = fleet.host(stored.id)
                && engine.used != stored.used
            {
                violations.push(format!(
                    "host {} records usage {:?} but its instances use {:?}",
                    stored.name, stored.used, engine.used
                ));
            }
        }
        Ok(violations)
    }
}

impl Berth {
    /// Commits a change whose effects were already applied to the cached fleets of `regions`;
    /// when the commit fails, those cache entries are dropped so that nothing remembers a
    /// change that did not happen.
    pub(crate) async fn commit(&self, tx: store::Tx, regions: &[&RegionId]) -> Result<()> {
        if let Err(error) = tx.commit().await {
            for region in regions {
                self.fleets.invalidate(region);
            }
            return Err(error.into());
        }
        Ok(())
    }
}

/// The current time.
pub(crate) fn now() -> Timestamp {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}
