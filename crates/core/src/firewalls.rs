//! Firewalls: kept so that clients which attach one to an instance work; berth filters no
//! traffic.

use crate::convert;
use crate::error::{Error, Result};
use crate::model::*;
use crate::{Berth, now};

impl Berth {
    pub async fn firewall_create(&self, principal: &Principal, create: FirewallCreate) -> Result<Firewall> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.firewall_label_taken(principal.account.0, create.label.as_str()).await? {
            return Err(Error::invalid("label", "Label must be unique among your Cloud Firewalls"));
        }
        let row = db
            .firewall_insert(
                principal.account.0,
                create.label.as_str(),
                &create.status,
                &create.rules,
                &convert::tags_to_store(&create.tags),
                now().0,
            )
            .await?;
        tx.commit().await?;
        convert::firewall(row)
    }

    pub async fn firewall_get(&self, principal: &Principal, id: FirewallId) -> Result<Firewall> {
        match self.store.read().await?.db().firewall_get(principal.account.0, id.0).await? {
            Some(row) => convert::firewall(row),
            None => Err(Error::not_found("firewall")),
        }
    }

    pub async fn firewall_list(&self, principal: &Principal) -> Result<Vec<Firewall>> {
        let rows = self.store.read().await?.db().firewalls_of_account(principal.account.0).await?;
        rows.into_iter().map(convert::firewall).collect()
    }

    pub async fn firewall_delete(&self, principal: &Principal, id: FirewallId) -> Result<()> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.firewall_get(principal.account.0, id.0).await?.is_none() {
            return Err(Error::not_found("firewall"));
        }
        db.firewall_delete(principal.account.0, id.0).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The instances a firewall protects.
    pub async fn firewall_devices(&self, principal: &Principal, id: FirewallId) -> Result<Vec<Instance>> {
        let mut conn = self.store.read().await?;
        let rows = conn.db().instances_of_account(principal.account.0).await?;
        rows.into_iter().filter(|row| row.firewall_id == Some(id.0)).map(convert::instance).collect()
    }
}
