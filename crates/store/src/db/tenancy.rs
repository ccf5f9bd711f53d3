//! Accounts, their users and credentials (tokens, API keys), restricted users' grants, and the operator's tokens.

use super::{Db, Result, System, Tenant};
use crate::rows::*;
use crate::sql::{query, query_as};

impl Db<'_> {
    // Accounts, users and tokens.

    pub async fn account_insert(&mut self, name: &str, now: i64) -> Result<AccountRow> {
        query_as("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at")
            .bind(name)
            .bind(now)
            .fetch_one(&mut self.conn)
            .await
    }

    pub async fn account_get(&mut self, id: i64) -> Result<Option<AccountRow>> {
        query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn)
            .await
    }

    pub async fn accounts(&mut self) -> Result<Vec<AccountRow>> {
        query_as("SELECT id, name, created_at FROM accounts ORDER BY id").fetch_all(&mut self.conn).await
    }

    pub async fn account_by_name(&mut self, name: &str) -> Result<Option<AccountRow>> {
        query_as("SELECT id, name, created_at FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut self.conn)
            .await
    }

    // The operator's credentials.

    pub async fn operator_token_insert(&mut self, label: &str, secret_hash: &str, now: i64) -> Result<()> {
        query("INSERT INTO operator_tokens (label, secret_hash, created_at) VALUES ($1, $2, $3)")
            .bind(label)
            .bind(secret_hash)
            .bind(now)
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Whether an operator token with this hash exists.
    pub async fn operator_token_exists(&mut self, secret_hash: &str) -> Result<bool> {
        let row = query("SELECT COUNT(*) FROM operator_tokens WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(row.get::<i64>(0)? > 0)
    }
}

impl Tenant<'_, '_> {
    pub async fn user_insert(&mut self, username: &str, email: &str, restricted: bool, now: i64) -> Result<UserRow> {
        let account_id = self.account;
        query_as(
            "INSERT INTO users (account_id, username, email, restricted, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, account_id, username, email, restricted, created_at",
        )
        .bind(account_id)
        .bind(username)
        .bind(email)
        .bind(i64::from(restricted))
        .bind(now)
        .fetch_one(&mut self.db.conn)
        .await
    }

    pub async fn users_of_account(&mut self) -> Result<Vec<UserRow>> {
        let account_id = self.account;
        query_as(
            "SELECT id, account_id, username, email, restricted, created_at FROM users WHERE account_id = $1 ORDER BY id",
        )
        .bind(account_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    pub async fn user_get(&mut self, id: i64) -> Result<Option<UserRow>> {
        let account_id = self.account;
        query_as(
            "SELECT id, account_id, username, email, restricted, created_at FROM users WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .fetch_optional(&mut self.db.conn)
        .await
    }

    #[allow(clippy::too_many_arguments)] // One argument per column of the row it inserts.
    pub async fn token_insert(
        &mut self,
        user_id: i64,
        label: &str,
        secret_hash: &str,
        scopes: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<TokenRow> {
        let account_id = self.account;
        query_as(
            "INSERT INTO tokens (account_id, user_id, label, secret_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(label)
        .bind(secret_hash)
        .bind(scopes)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut self.db.conn)
        .await
    }

    pub async fn tokens_of_user(&mut self, user_id: i64) -> Result<Vec<TokenRow>> {
        let account_id = self.account;
        query_as(
            "SELECT id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at FROM tokens \
             WHERE account_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    /// Revokes a token; returns whether it existed and was not revoked already.
    pub async fn token_revoke(&mut self, id: i64, now: i64) -> Result<bool> {
        let account_id = self.account;
        let result =
            query("UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL")
                .bind(id)
                .bind(account_id)
                .bind(now)
                .execute(&mut self.db.conn)
                .await?;
        Ok(result == 1)
    }

    /// Replaces every grant of a user.
    pub async fn grants_replace(&mut self, user_id: i64, global: &[String], entities: &[EntityGrantRow]) -> Result<()> {
        let account_id = self.account;
        query("DELETE FROM global_grants WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        query("DELETE FROM entity_grants WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&mut self.db.conn)
            .await?;
        for name in global {
            query("INSERT INTO global_grants (account_id, user_id, grant_name) VALUES ($1, $2, $3)")
                .bind(account_id)
                .bind(user_id)
                .bind(name)
                .execute(&mut self.db.conn)
                .await?;
        }
        for grant in entities {
            self.entity_grant_set(user_id, grant).await?;
        }
        Ok(())
    }

    /// Gives a user a permission on one entity, replacing the one it had.
    pub async fn entity_grant_set(&mut self, user_id: i64, grant: &EntityGrantRow) -> Result<()> {
        let account_id = self.account;
        query(
            "INSERT INTO entity_grants (account_id, user_id, entity_type, entity_id, permission) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, entity_type, entity_id) DO UPDATE SET permission = $5 \
             WHERE entity_grants.account_id = $1",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(&grant.entity_type)
        .bind(grant.entity_id)
        .bind(&grant.permission)
        .execute(&mut self.db.conn)
        .await?;
        Ok(())
    }

    /// Forgets every grant on an entity that no longer exists.
    pub async fn entity_grants_delete(&mut self, entity_type: &str, entity_id: i64) -> Result<()> {
        let account_id = self.account;
        query("DELETE FROM entity_grants WHERE account_id = $1 AND entity_type = $2 AND entity_id = $3")
            .bind(account_id)
            .bind(entity_type)
            .bind(entity_id)
            .execute(&mut self.db.conn)
            .await?;
        Ok(())
    }

    // API keys.

    pub async fn api_key_insert(
        &mut self,
        user_id: i64,
        key: &str,
        sealed_secret: &str,
        name: &str,
        now: i64,
    ) -> Result<ApiKeyRow> {
        let account_id = self.account;
        query_as(concat!(
            "INSERT INTO api_keys (account_id, user_id, key, secret, name, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING ",
            api_key_columns!()
        ))
        .bind(account_id)
        .bind(user_id)
        .bind(key)
        .bind(sealed_secret)
        .bind(name)
        .bind(now)
        .fetch_one(&mut self.db.conn)
        .await
    }

    pub async fn api_keys_of_account(&mut self) -> Result<Vec<ApiKeyRow>> {
        let account_id = self.account;
        query_as(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE account_id = $1 ORDER BY id"))
            .bind(account_id)
            .fetch_all(&mut self.db.conn)
            .await
    }

    /// Revokes an API key; returns whether it existed and was not revoked already.
    pub async fn api_key_revoke(&mut self, key: &str, now: i64) -> Result<bool> {
        let account_id = self.account;
        let result =
            query("UPDATE api_keys SET revoked_at = $3 WHERE key = $1 AND account_id = $2 AND revoked_at IS NULL")
                .bind(key)
                .bind(account_id)
                .bind(now)
                .execute(&mut self.db.conn)
                .await?;
        Ok(result == 1)
    }
}

impl System<'_, '_> {
    pub async fn user_by_username(&mut self, username: &str) -> Result<Option<UserRow>> {
        query_as("SELECT id, account_id, username, email, restricted, created_at FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut self.db.conn)
            .await
    }

    /// The token of this hash with the user it belongs to, in one statement: what
    /// authenticating a bearer token reads. `None` when there is no such token, or its user
    /// is gone.
    pub async fn token_with_user(&mut self, secret_hash: &str) -> Result<Option<(TokenRow, UserRow)>> {
        let row: Option<TokenUserRow> = query_as(
            "SELECT t.id, t.account_id, t.user_id, t.label, t.scopes, t.created_at, t.expires_at, t.revoked_at, \
             u.username, u.email, u.restricted, u.created_at AS user_created_at \
             FROM tokens t JOIN users u ON u.id = t.user_id AND u.account_id = t.account_id \
             WHERE t.secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&mut self.db.conn)
        .await?;
        Ok(row.map(TokenUserRow::split))
    }

    // Grants of restricted users.

    pub async fn global_grants_of_user(&mut self, user_id: i64) -> Result<Vec<String>> {
        let rows = query("SELECT grant_name FROM global_grants WHERE user_id = $1 ORDER BY grant_name")
            .bind(user_id)
            .fetch_all(&mut self.db.conn)
            .await?;
        rows.iter().map(|row| row.get::<String>(0)).collect()
    }

    pub async fn entity_grants_of_user(&mut self, user_id: i64) -> Result<Vec<EntityGrantRow>> {
        query_as(
            "SELECT entity_type, entity_id, permission FROM entity_grants WHERE user_id = $1 \
             ORDER BY entity_type, entity_id",
        )
        .bind(user_id)
        .fetch_all(&mut self.db.conn)
        .await
    }

    pub async fn api_key_count(&mut self) -> Result<i64> {
        let row = query("SELECT COUNT(*) FROM api_keys").fetch_one(&mut self.db.conn).await?;
        row.get::<i64>(0)
    }

    pub async fn api_key_by_key(&mut self, key: &str) -> Result<Option<ApiKeyRow>> {
        query_as(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE key = $1"))
            .bind(key)
            .fetch_optional(&mut self.db.conn)
            .await
    }
}

/// A token and its user, as [`System::token_with_user`] reads them.
struct TokenUserRow {
    id: i64,
    account_id: i64,
    user_id: i64,
    label: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    username: String,
    email: String,
    restricted: i64,
    user_created_at: i64,
}

crate::sql::from_row! {
    TokenUserRow {
        id, account_id, user_id, label, scopes, created_at, expires_at, revoked_at, username, email, restricted,
        user_created_at
    }
}

impl TokenUserRow {
    fn split(self) -> (TokenRow, UserRow) {
        let user = UserRow {
            id: self.user_id,
            account_id: self.account_id,
            username: self.username,
            email: self.email,
            restricted: self.restricted,
            created_at: self.user_created_at,
        };
        let token = TokenRow {
            id: self.id,
            account_id: self.account_id,
            user_id: self.user_id,
            label: self.label,
            scopes: self.scopes,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        };
        (token, user)
    }
}
