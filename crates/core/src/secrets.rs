//! Secrets kept at rest: an API secret must be recoverable to verify the requests it
//! signs, so it is sealed with XChaCha20-Poly1305 under a key that lives outside the database.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::{Error, Result};

/// How many API secrets the database holds sealed, before any `Berth` runs on it: a process
/// that has lost its key must not start and seal new secrets under another one.
pub async fn sealed_secret_count(store: &store::Store) -> Result<u64> {
    let count = store.read().await?.db().system().api_key_count().await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// The key that seals secrets. It never appears in logs or in `Debug` output.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    /// The key as text, for the key file: 64 hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<SecretKey> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SecretKey(bytes))
    }

    /// Seals a secret: a fresh random nonce, then the ciphertext, in base64.
    pub fn seal(&self, secret: &str) -> String {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key cannot fail; the sealed text is the nonce and ciphertext.
        let ciphertext = cipher.encrypt(XNonce::from_slice(&nonce), secret.as_bytes()).unwrap_or_default();
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        STANDARD.encode(sealed)
    }

    /// Opens a sealed secret; fails when it was sealed under another key or altered.
    pub fn open(&self, sealed: &str) -> Result<String> {
        let fail = || Error::Internal("a stored secret cannot be opened: wrong secret key, or altered".to_string());
        let bytes = STANDARD.decode(sealed).map_err(|_| fail())?;
        if bytes.len() < 24 {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let plain = cipher.decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_under_its_key() {
        let key = SecretKey::generate();
        let sealed = key.seal("top secret");
        assert!(!sealed.contains("top secret"));
        assert_eq!(key.open(&sealed).unwrap(), "top secret");
        assert_ne!(key.seal("top secret"), sealed, "every seal uses a fresh nonce");
        assert!(SecretKey::generate().open(&sealed).is_err());
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(key.open(&String::from_utf8(altered).unwrap()).is_err());
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let key = SecretKey::generate();
        let again = SecretKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.0, key.0);
        assert!(SecretKey::from_hex("zz").is_none());
        assert!(SecretKey::from_hex(&"g".repeat(64)).is_none());
    }
}
