//! Credentials: bearer tokens, stored only as hashes, and the principal they stand for.

use rand::RngCore;
use sha2::{Digest, Sha256};
use store::Db;

use crate::error::{Error, Result};
use crate::model::*;
use crate::{Berth, now};

/// A fresh token: 32 random bytes as 64 hex digits.
pub fn token_generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// What the store keeps of a token: its SHA-256, so that a copy of the database does not
/// hold a usable credential. Tokens are random and long, so a fast hash is enough.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// A fresh API key: `prefix` and 24 hex digits.
pub fn api_key_generate(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex(&bytes))
}

/// A fresh API secret: 32 random bytes in URL-safe base64, 43 characters.
pub fn api_secret_generate() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Berth {
    /// The principal an API key stands for, and its secret, to verify a signature
    /// with. Unknown and revoked keys are refused alike.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<(Principal, String)> {
        if key.is_empty() || key.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        // The key and its user are read apart: a key revoked between the two reads
        // authenticates a request that raced the revocation, as one a moment earlier would.
        // The grants, which must agree with each other, are read in one snapshot.
        let mut conn = self.store.read().await?;
        let mut db = conn.db();
        let Some(row) = db.system().api_key_by_key(key).await? else {
            return Err(Error::Unauthenticated);
        };
        if row.revoked_at.is_some() {
            return Err(Error::Unauthenticated);
        }
        let Some(user) = db.tenant(row.account_id).user_get(row.user_id).await? else {
            return Err(Error::Unauthenticated);
        };
        let secret = self.settings.secret_key.open(&row.secret)?;
        drop(conn);
        Ok((principal_of(&self.store, user, Scopes::all(), format!("api-key:{key}")).await?, secret))
    }

    /// Whether `token` is an operator credential of the native API.
    pub async fn authenticate_operator(&self, token: &str) -> Result<()> {
        if token.is_empty() || token.len() > 256 {
            return Err(Error::Unauthenticated);
        }
        if self.store.read().await?.db().operator_token_exists(&token_hash(token)).await? {
            Ok(())
        } else {
            Err(Error::Unauthenticated)
        }
    }

    /// The principal a bearer token stands for; unknown and expired tokens are refused alike.
    pub async fn authenticate_token(&self, token: &str) -> Result<Principal> {
        if token.is_empty() || token.len() > 256 {
            return Err(Error::Unauthenticated);
        }
        // The token and its user in one statement; a restricted user's grants in one snapshot.
        let mut conn = self.store.read().await?;
        let Some((row, user)) = conn.db().system().token_with_user(&token_hash(token)).await? else {
            return Err(Error::Unauthenticated);
        };
        if row.expires_at.is_some_and(|expires| expires <= now().0) || row.revoked_at.is_some() {
            return Err(Error::Unauthenticated);
        }
        let scopes = Scopes::stored(&row.scopes)?;
        drop(conn);
        principal_of(&self.store, user, scopes, format!("token:{}", row.id)).await
    }
}

/// The principal of a user: its grants are loaded when it is restricted.
pub(crate) async fn principal_of(
    store: &store::Store,
    user: store::UserRow,
    scopes: Scopes,
    credential: String,
) -> Result<Principal> {
    let restricted = user.restricted != 0;
    let grants = if restricted {
        user_grants(&mut store.snapshot().await?.db(), UserId(user.id)).await?
    } else {
        Grants::default()
    };
    Ok(Principal {
        account: AccountId(user.account_id),
        user: UserId(user.id),
        username: user.username,
        email: user.email,
        restricted,
        grants,
        scopes,
        credential,
    })
}

/// A user's grants as stored: its rights, the grants kept for a dialect, and its permissions on
/// single resources.
pub(crate) async fn user_grants(db: &mut Db<'_>, user: UserId) -> Result<Grants> {
    let mut grants = Grants::default();
    for name in db.system().global_grants_of_user(user.0).await? {
        match Right::parse(&name) {
            Some(right) => grants.rights.insert(right),
            None => grants.kept.insert(name),
        };
    }
    for row in db.system().entity_grants_of_user(user.0).await? {
        let (Some(kind), Some(permission)) = (EntityKind::parse(&row.entity_type), Permission::parse(&row.permission))
        else {
            return Err(Error::Internal(format!("user {} has a malformed grant", user.0)));
        };
        grants.entities.insert((kind, row.entity_id), permission);
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = token_generate();
        let b = token_generate();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_stored_hash_is_sha256_of_the_token() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
