//! Tenancy for the operator: accounts, their users, the users' credentials and grants.

use store::{AccountRow, ApiKeyRow, Db, EntityGrantRow, TokenRow, UserRow};

use crate::auth::{api_key_generate, api_secret_generate, token_generate, token_hash, user_grants};
use crate::convert;
use crate::error::{Conflict, Error, Field, Form, Problem, Result};
use crate::model::*;
use crate::validate::plain_name;
use crate::{Berth, now};

/// One resource of an account and a user's permission on it (`None`: no grant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityPermission {
    pub kind: EntityKind,
    pub id: i64,
    pub label: String,
    pub permission: Option<Permission>,
}

fn account(row: AccountRow) -> Account {
    Account { id: AccountId(row.id), name: row.name, created_at: Timestamp(row.created_at) }
}

fn user(row: UserRow) -> User {
    User {
        id: UserId(row.id),
        account: AccountId(row.account_id),
        username: row.username,
        email: row.email,
        restricted: row.restricted != 0,
        created_at: Timestamp(row.created_at),
    }
}

fn token(row: TokenRow) -> Result<Token> {
    Ok(Token {
        id: row.id,
        user: UserId(row.user_id),
        label: row.label,
        scopes: Scopes::stored(&row.scopes)?,
        created_at: Timestamp(row.created_at),
        expires_at: row.expires_at.map(Timestamp),
        revoked_at: row.revoked_at.map(Timestamp),
    })
}

fn api_key(row: ApiKeyRow) -> ApiKey {
    ApiKey {
        key: row.key,
        user: UserId(row.user_id),
        name: row.name,
        created_at: Timestamp(row.created_at),
        revoked_at: row.revoked_at.map(Timestamp),
    }
}

async fn account_get(db: &mut Db<'_>, id: AccountId) -> Result<Account> {
    db.account_get(id.0).await?.map(account).ok_or_else(|| Error::not_found(Thing::Account))
}

async fn user_get(db: &mut Db<'_>, account: AccountId, id: UserId) -> Result<User> {
    db.tenant(account.0).user_get(id.0).await?.map(user).ok_or_else(|| Error::not_found(Thing::User))
}

impl Berth {
    pub async fn account_create(&self, account_name: &str) -> Result<Account> {
        let account_name = plain_name(Field::Name, account_name)?;
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        if db.account_by_name(&account_name).await?.is_some() {
            return Err(
                Error::conflict(Conflict::Exists { thing: Thing::Account, name: account_name }).about(Field::Name)
            );
        }
        let row = db.account_insert(&account_name, now().0).await?;
        tx.commit().await?;
        Ok(account(row))
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        Ok(self.store.read().await?.db().accounts().await?.into_iter().map(account).collect())
    }

    pub async fn account(&self, id: AccountId) -> Result<Account> {
        account_get(&mut self.store.read().await?.db(), id).await
    }

    pub async fn user_create(&self, account: AccountId, username: &str, email: &str, restricted: bool) -> Result<User> {
        let username = plain_name(Field::Username, username)?;
        let valid_email =
            email.len() <= 254 && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !valid_email || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(Field::Email, Problem::Malformed { form: Form::Email, value: None }));
        }
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        account_get(&mut db, account).await?;
        if db.system().user_by_username(&username).await?.is_some() {
            return Err(Error::conflict(Conflict::Exists { thing: Thing::User, name: username }).about(Field::Username));
        }
        let row = db.tenant(account.0).user_insert(&username, email, restricted, now().0).await?;
        tx.commit().await?;
        Ok(user(row))
    }

    pub async fn users(&self, account: AccountId) -> Result<Vec<User>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        account_get(&mut db, account).await?;
        Ok(db.tenant(account.0).users_of_account().await?.into_iter().map(user).collect())
    }

    pub async fn user(&self, account: AccountId, id: UserId) -> Result<User> {
        user_get(&mut self.store.read().await?.db(), account, id).await
    }

    /// Creates a personal access token for a user and returns it with its secret, which is
    /// shown only here: the store keeps its SHA-256.
    pub async fn token_create(
        &self,
        account: AccountId,
        user: UserId,
        label: &str,
        scopes: Scopes,
        expires_at: Option<Timestamp>,
    ) -> Result<(Token, String)> {
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(Error::invalid(Field::Label, Problem::Length { min: 1, max: 100 }));
        }
        if expires_at.is_some_and(|at| at <= now()) {
            return Err(Error::invalid(Field::Expiry, Problem::Past));
        }
        let secret = token_generate();
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        user_get(&mut db, account, user).await?;
        let row = db
            .tenant(account.0)
            .token_insert(user.0, label, &token_hash(&secret), &scopes.to_string(), now().0, expires_at.map(|t| t.0))
            .await?;
        tx.commit().await?;
        Ok((token(row)?, secret))
    }

    pub async fn tokens(&self, account: AccountId, user: UserId) -> Result<Vec<Token>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        user_get(&mut db, account, user).await?;
        db.tenant(account.0).tokens_of_user(user.0).await?.into_iter().map(token).collect()
    }

    pub async fn token_revoke(&self, account: AccountId, id: i64) -> Result<()> {
        let mut tx = self.store.write().await?;
        if !tx.db().tenant(account.0).token_revoke(id, now().0).await? {
            return Err(Error::not_found(Thing::Token));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Issues an API key to a user and returns it with its secret, which is shown only here:
    /// the store keeps the secret sealed.
    pub async fn api_key_issue(&self, account: AccountId, user: UserId, key_name: &str) -> Result<(ApiKey, String)> {
        if key_name.is_empty() || key_name.chars().count() > 100 || key_name.chars().any(char::is_control) {
            return Err(Error::invalid(Field::Name, Problem::Length { min: 1, max: 100 }));
        }
        let (key, secret) = (api_key_generate(&self.settings.api_key_prefix), api_secret_generate());
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        user_get(&mut db, account, user).await?;
        let row = db
            .tenant(account.0)
            .api_key_insert(user.0, &key, &self.settings.secret_key.seal(&secret), key_name, now().0)
            .await?;
        tx.commit().await?;
        Ok((api_key(row), secret))
    }

    pub async fn api_keys(&self, account: AccountId) -> Result<Vec<ApiKey>> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        account_get(&mut db, account).await?;
        Ok(db.tenant(account.0).api_keys_of_account().await?.into_iter().map(api_key).collect())
    }

    /// Revokes an API key: requests signed with it are refused from now on.
    pub async fn api_key_revoke(&self, account: AccountId, key: &str) -> Result<()> {
        let mut tx = self.store.write().await?;
        if !tx.db().tenant(account.0).api_key_revoke(key, now().0).await? {
            return Err(Error::not_found(Thing::ApiKey));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A user's grants, with every resource of its account and the permission held on it.
    pub async fn grants(&self, account: AccountId, user: UserId) -> Result<(User, Grants, Vec<EntityPermission>)> {
        let mut conn = self.store.snapshot().await?;
        let mut db = conn.db();
        let found = user_get(&mut db, account, user).await?;
        let grants = user_grants(&mut db, user).await?;
        let entities = entities_with(&mut db, account, &grants).await?;
        Ok((found, grants, entities))
    }

    /// The caller's own grants, as `GET /profile/grants` shows them.
    pub async fn grants_of(&self, principal: &Principal) -> Result<Vec<EntityPermission>> {
        entities_with(&mut self.store.snapshot().await?.db(), principal.account, &principal.grants).await
    }

    /// Replaces a restricted user's grants. Every entity named must exist in the account.
    pub async fn grants_set(&self, account: AccountId, user: UserId, grants: Grants) -> Result<Grants> {
        let mut tx = self.store.write().await?;
        let mut db = tx.db();
        let found = user_get(&mut db, account, user).await?;
        if !found.restricted {
            return Err(Error::invalid(Field::User, Problem::NotRestricted));
        }
        for (kind, id) in grants.entities.keys() {
            let exists = match kind {
                EntityKind::Instance => db.tenant(account.0).instance_get(*id).await?.is_some(),
                EntityKind::Group => db.tenant(account.0).group_get(*id).await?.is_some(),
                EntityKind::Firewall => db.tenant(account.0).firewall_get(*id).await?.is_some(),
            };
            if !exists {
                return Err(Error::invalid(Field::Grants(*kind), Problem::Unknown(id.to_string())));
            }
        }
        let global: Vec<String> =
            grants.rights.iter().map(|right| right.as_str().to_string()).chain(grants.kept.iter().cloned()).collect();
        let entities: Vec<EntityGrantRow> = grants
            .entities
            .iter()
            .map(|((kind, id), permission)| EntityGrantRow {
                entity_type: kind.as_str().to_string(),
                entity_id: *id,
                permission: permission.as_str().to_string(),
            })
            .collect();
        db.tenant(account.0).grants_replace(user.0, &global, &entities).await?;
        tx.commit().await?;
        Ok(grants)
    }
}

/// Every resource of the account a grant can name, with the permission `grants` holds on it.
async fn entities_with(db: &mut Db<'_>, account: AccountId, grants: &Grants) -> Result<Vec<EntityPermission>> {
    let permission = |kind: EntityKind, id: i64| grants.entities.get(&(kind, id)).copied();
    let mut entities = Vec::new();
    for row in db.tenant(account.0).instances_of_account().await? {
        entities.push(EntityPermission {
            kind: EntityKind::Instance,
            id: row.id,
            permission: permission(EntityKind::Instance, row.id),
            label: row.label,
        });
    }
    for row in db.tenant(account.0).groups_of_account().await? {
        let group = convert::group(row)?;
        entities.push(EntityPermission {
            kind: EntityKind::Group,
            id: group.id.0,
            permission: permission(EntityKind::Group, group.id.0),
            label: group.label.to_string(),
        });
    }
    for row in db.tenant(account.0).firewalls_of_account().await? {
        entities.push(EntityPermission {
            kind: EntityKind::Firewall,
            id: row.id,
            permission: permission(EntityKind::Firewall, row.id),
            label: row.label,
        });
    }
    Ok(entities)
}
