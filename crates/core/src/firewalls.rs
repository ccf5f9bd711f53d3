//! Firewalls: kept so that clients which attach one to an instance work; berth filters no
//! traffic.

use crate::convert;
use crate::error::{Act, Error, Field, Problem, Result};
use crate::events;
use crate::model::*;
use crate::{Berth, now};

impl Berth {
    pub async fn firewall_create(&self, principal: &Principal, create: FirewallCreate) -> Result<Firewall> {
        principal.require(Right::CreateFirewalls, Act::CreateFirewall)?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.tenant(principal.account.0).firewall_label_taken(create.label.as_str()).await? {
            return Err(Error::invalid(Field::Label, Problem::Taken(Thing::Firewall)));
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
            Action::FirewallCreate,
            EventStatus::Finished,
            &events::firewall_entity(&firewall),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(firewall)
    }

    pub async fn firewall_get(&self, principal: &Principal, id: FirewallId) -> Result<Firewall> {
        principal.require_visible(EntityKind::Firewall, id.0, Thing::Firewall)?;
        match self.store.read().await?.db().tenant(principal.account.0).firewall_get(id.0).await? {
            Some(row) => convert::firewall(row),
            None => Err(Error::not_found(Thing::Firewall)),
        }
    }

    /// The caller's instances that a firewall protects.
    pub async fn firewall_devices(&self, principal: &Principal, id: FirewallId) -> Result<Vec<Instance>> {
        let rows = self.store.read().await?.db().tenant(principal.account.0).instances_with_firewall(id.0).await?;
        rows.into_iter().filter(|row| principal.can_see(EntityKind::Instance, row.id)).map(convert::instance).collect()
    }

    pub async fn firewall_list(&self, principal: &Principal) -> Result<Vec<Firewall>> {
        let rows = self.store.read().await?.db().tenant(principal.account.0).firewalls_of_account().await?;
        rows.into_iter().filter(|row| principal.can_see(EntityKind::Firewall, row.id)).map(convert::firewall).collect()
    }

    pub async fn firewall_delete(&self, principal: &Principal, id: FirewallId) -> Result<()> {
        principal.require_change(EntityKind::Firewall, id.0, Thing::Firewall)?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let Some(row) = db.tenant(principal.account.0).firewall_get(id.0).await? else {
            return Err(Error::not_found(Thing::Firewall));
        };
        let firewall = convert::firewall(row)?;
        db.tenant(principal.account.0).firewall_delete(id.0).await?;
        db.tenant(principal.account.0).entity_grants_delete(EntityKind::Firewall.as_str(), id.0).await?;
        events::record(
            &mut db,
            principal.account,
            Some(principal),
            Action::FirewallDelete,
            EventStatus::Finished,
            &events::firewall_entity(&firewall),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
