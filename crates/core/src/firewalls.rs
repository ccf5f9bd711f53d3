//! Firewalls: kept so that clients which attach one to an instance work; berth filters no
//! traffic.

use crate::convert;
use crate::error::{Error, Result};
use crate::events;
use crate::model::*;
use crate::{Berth, now};

impl Berth {
    pub async fn firewall_create(&self, principal: &Principal, create: FirewallCreate) -> Result<Firewall> {
        principal.require_grant("add_firewalls", "create firewalls")?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.tenant(principal.account.0).firewall_label_taken(create.label.as_str()).await? {
            return Err(Error::invalid("label", "Label must be unique among your Cloud Firewalls"));
        }
        let row = db
            .tenant(principal.account.0)
            .firewall_insert(
                create.label.as_str(),
                &create.status,
                &create.rules,
                &convert::tags_to_store(&create.tags),
                now().0,
            )
            .await?;
        let firewall = convert::firewall(row)?;
        crate::groups::grant_creator(&mut db, principal, EntityKind::Firewall, firewall.id.0).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            "firewall_create",
            "finished",
            &events::firewall_entity(&firewall),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(firewall)
    }

    pub async fn firewall_get(&self, principal: &Principal, id: FirewallId) -> Result<Firewall> {
        principal.require_visible(EntityKind::Firewall, id.0, "firewall")?;
        match self.store.read().await?.db().tenant(principal.account.0).firewall_get(id.0).await? {
            Some(row) => convert::firewall(row),
            None => Err(Error::not_found("firewall")),
        }
    }

    pub async fn firewall_list(&self, principal: &Principal) -> Result<Vec<Firewall>> {
        let rows = self.store.read().await?.db().tenant(principal.account.0).firewalls_of_account().await?;
        rows.into_iter().filter(|row| principal.can_see(EntityKind::Firewall, row.id)).map(convert::firewall).collect()
    }

    pub async fn firewall_delete(&self, principal: &Principal, id: FirewallId) -> Result<()> {
        principal.require_change(EntityKind::Firewall, id.0, "firewall")?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let Some(row) = db.tenant(principal.account.0).firewall_get(id.0).await? else {
            return Err(Error::not_found("firewall"));
        };
        let firewall = convert::firewall(row)?;
        db.tenant(principal.account.0).firewall_delete(id.0).await?;
        db.tenant(principal.account.0).entity_grants_delete(EntityKind::Firewall.as_str(), id.0).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            "firewall_delete",
            "finished",
            &events::firewall_entity(&firewall),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
