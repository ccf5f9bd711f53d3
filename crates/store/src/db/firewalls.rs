//! Firewalls.

use super::{Result, Tenant};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Tenant<'_, '_> {
    pub async fn firewall_insert(
        &mut self,
        label: &str,
        status: &str,
        rules: &str,
        tags: &str,
        now: i64,
    ) -> Result<FirewallRow> {
        let account_id = self.account;
        query_as(concat!(
            "INSERT INTO firewalls (account_id, label, status, rules, tags, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            firewall_columns!()
        ))
        .bind(account_id)
        .bind(label)
        .bind(status)
        .bind(rules)
        .bind(tags)
        .bind(now)
        .fetch_one(&mut self.db.conn)
        .await
    }

    pub async fn firewall_get(&mut self, id: i64) -> Result<Option<FirewallRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", firewall_columns!(), " FROM firewalls WHERE id = $1 AND account_id = $2"))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    pub async fn firewalls_of_account(&mut self) -> Result<Vec<FirewallRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", firewall_columns!(), " FROM firewalls WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut self.db.conn)
            .await
    }

    pub async fn firewall_label_taken(&mut self, label: &str) -> Result<bool> {
        let account_id = self.account;
        let row = query("SELECT COUNT(*) FROM firewalls WHERE account_id = $1 AND label = $2")
            .bind(account_id)
            .bind(label)
            .fetch_one(&mut self.db.conn)
            .await?;
        Ok(row.get::<i64>(0)? > 0)
    }

    /// Deletes a firewall; the instances it protected keep running without it.
    pub async fn firewall_delete(&mut self, id: i64) -> Result<()> {
        let account_id = self.account;
        query("UPDATE instances SET firewall_id = NULL WHERE firewall_id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        query("DELETE FROM firewalls WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }
}
