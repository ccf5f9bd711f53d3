//! Seeding: regions and hosts described up front, and the demo fleet and account that
//! `berth serve` creates on an empty database.

use store::{Db, NewHost, RegionRow};

use crate::auth::{api_key_generate, api_secret_generate, token_generate, token_hash};
use crate::convert;
use crate::error::{Conflict, Error, Field, Result};
use crate::model::*;
use crate::{Berth, now};

/// A fleet described up front: regions, their racks, and the hosts in each rack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSeed {
    pub regions: Vec<RegionSeed>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSeed {
    pub id: String,
    pub label: String,
    pub country: String,
    pub max_members_per_group: u32,
    pub max_groups_per_account: Option<u32>,
    pub racks: Vec<RackSeed>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackSeed {
    pub name: String,
    /// The capacity of each host in the rack.
    pub hosts: Vec<Resources>,
}

/// The demo credentials to use instead of fresh random ones, for scripts and CI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoOptions {
    pub token: Option<String>,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub operator_token: Option<String>,
}

/// The demo credentials, shown once: the store keeps the tokens' hashes and the API secret
/// sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoCredentials {
    pub username: String,
    /// The demo account's bearer token.
    pub token: String,
    /// The demo account's API key and secret.
    pub api_key: String,
    pub api_secret: String,
    /// The operator's bearer token for the native `/v1` API.
    pub operator_token: String,
}

const DEMO_SEEDED: &str = "demo_seeded";

impl Berth {
    /// On an empty database: seeds `fleet`, the demo account (a bearer token and an API key)
    /// and the operator's token, and returns the credentials (those given in `options`, else
    /// fresh ones). Once seeded, returns `None` and changes nothing.
    pub async fn demo_seed(&self, fleet: &FleetSeed, options: DemoOptions) -> Result<Option<DemoCredentials>> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        // Claimed first: a second process starting on the same new database waits here for
        // the first to commit, then finds the demo seeded.
        if !db.meta_claim(DEMO_SEEDED, &now().0.to_string()).await? {
            return Ok(None);
        }
        seed_fleet(&mut db, fleet).await?;
        let token = options.token.unwrap_or_else(token_generate);
        let (account, user) = seed_account(&mut db, "demo", "demo", "demo@berth.localhost", &token).await?;
        let api_key = options.api_key.unwrap_or_else(|| api_key_generate(&self.settings.api_key_prefix));
        let api_secret = options.api_secret.unwrap_or_else(api_secret_generate);
        let sealed = self.settings.secret_key.seal(&api_secret);
        db.tenant(account.0).api_key_insert(user.0, &api_key, &sealed, "demo", now().0).await?;
        let operator_token = options.operator_token.unwrap_or_else(token_generate);
        db.operator_token_insert("bootstrap", &token_hash(&operator_token), now().0).await?;
        tx.commit().await?;
        Ok(Some(DemoCredentials { username: "demo".to_string(), token, api_key, api_secret, operator_token }))
    }

    /// Gives a user an API key (`key` and `secret` when given, else fresh ones) and
    /// returns both; the secret is shown only here.
    pub async fn api_key_create(
        &self,
        principal: &Principal,
        name: &str,
        key: Option<String>,
        secret: Option<String>,
    ) -> Result<(String, String)> {
        let key = key.unwrap_or_else(|| api_key_generate(&self.settings.api_key_prefix));
        let secret = secret.unwrap_or_else(api_secret_generate);
        let sealed = self.settings.secret_key.seal(&secret);
        let mut tx = self.store.write().await?;
        tx.db().tenant(principal.account.0).api_key_insert(principal.user.0, &key, &sealed, name, now().0).await?;
        tx.commit().await?;
        Ok((key, secret))
    }

    /// Adds an operator token of the native API.
    pub async fn operator_token_create(&self, label: &str, token: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        tx.db().operator_token_insert(label, &token_hash(token), now().0).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds the regions and hosts of a seed to the fleet.
    pub async fn fleet_seed(&self, seed: &FleetSeed) -> Result<()> {
        let mut tx = self.store.write().await?;
        seed_fleet(&mut tx.db(), seed).await?;
        tx.commit().await?;
        for region in &seed.regions {
            self.fleets.invalidate(&RegionId::parse(&region.id)?);
        }
        Ok(())
    }

    /// Creates an account with one unrestricted user holding `token`, and returns the user's
    /// principal.
    pub async fn account_seed(&self, name: &str, username: &str, email: &str, token: &str) -> Result<Principal> {
        let mut tx = self.store.write().await?;
        let (account, _) = seed_account(&mut tx.db(), name, username, email, token).await?;
        tx.commit().await?;
        self.authenticate_token(token)
            .await
            .map_err(|_| Error::Internal(format!("account {} has no usable token", account.0)))
    }
}

async fn seed_fleet(db: &mut Db<'_>, seed: &FleetSeed) -> Result<()> {
    let now = now().0;
    for region in &seed.regions {
        let id = RegionId::parse(&region.id)?;
        if db.region_get(id.as_str()).await?.is_some() {
            return Err(
                Error::conflict(Conflict::Exists { thing: Thing::Region, name: id.to_string() }).about(Field::Region)
            );
        }
        db.region_insert(&RegionRow {
            id: id.as_str().to_string(),
            label: region.label.clone(),
            country: region.country.clone(),
            site_type: "core".to_string(),
            status: "ok".to_string(),
            max_members_per_group: i64::from(region.max_members_per_group),
            max_groups_per_account: region.max_groups_per_account.map(i64::from),
            created_at: now,
        })
        .await?;
        let mut number = 0;
        for rack in &region.racks {
            for host in &rack.hosts {
                number += 1;
                db.host_insert(
                    &NewHost {
                        uuid: uuid::Uuid::new_v4().to_string(),
                        name: format!("{id}-{}-h{number:02}", rack.name),
                        region_id: id.as_str().to_string(),
                        rack: rack.name.clone(),
                        state: HostState::Active.as_str().to_string(),
                        size: convert::size(*host),
                        labels: "{}".to_string(),
                    },
                    now,
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn seed_account(
    db: &mut Db<'_>,
    name: &str,
    username: &str,
    email: &str,
    token: &str,
) -> Result<(AccountId, UserId)> {
    let now = now().0;
    let account = db.account_insert(name, now).await?;
    let user = db.tenant(account.id).user_insert(username, email, false, now).await?;
    db.tenant(account.id).token_insert(user.id, "demo", &token_hash(token), "*", now, None).await?;
    Ok((AccountId(account.id), UserId(user.id)))
}
