//! Encryption at rest of the stored Nhanh token, with the key from `DONGBO_SECRET_KEY`.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`): an AEAD whose 24-byte nonce is large
//! enough to draw at random for every write without counting, so two processes sealing with one
//! key never need to agree on anything. A sealed value is `nonce ‖ ciphertext ‖ tag`; the tag makes
//! a wrong key or a changed byte fail to open rather than yield garbage.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::connectors::Secret;

/// The environment variable that holds the key.
pub const SECRET_KEY_VAR: &str = "DONGBO_SECRET_KEY";

/// Binds a sealed value to its purpose: a value sealed for something else does not open as a token.
const PURPOSE: &[u8] = b"dongbo nhanh access token v1";

const NONCE_LEN: usize = 24;

/// Why a key could not be read or a sealed token could not be opened. No variant carries the key
/// or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key is not 32 bytes in base64.
    #[error("{SECRET_KEY_VAR} must be 32 random bytes in base64 (e.g. the output of `openssl rand -base64 32`): {0}")]
    BadKey(String),
    /// The stored bytes do not open with this key: another key sealed them, or they changed.
    #[error(
        "the stored Nhanh token does not open with this {SECRET_KEY_VAR}: it was stored with another key \
         (set that key, or run `dongbo nhanh authorize` again)"
    )]
    WrongKey,
    /// Sealing failed (the cipher refused the input).
    #[error("sealing the Nhanh token failed")]
    Seal,
}

/// The key that seals and opens the stored token. `Debug` does not print it.
#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

impl SealingKey {
    /// Reads a key written as base64 of exactly 32 bytes (surrounding spaces ignored).
    pub fn parse(base64: &str) -> Result<SealingKey, SealError> {
        let bytes = STANDARD.decode(base64.trim()).map_err(|_| SealError::BadKey("not base64".into()))?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(format!("it decodes to {} bytes", bytes.len())));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SealError::BadKey("wrong length".into()))?;
        Ok(SealingKey(cipher))
    }

    /// The key in `DONGBO_SECRET_KEY` as looked up by `var`; `Ok(None)` when it is unset or empty.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<SealingKey>, SealError> {
        match var(SECRET_KEY_VAR).filter(|v| !v.trim().is_empty()) {
            Some(v) => Self::parse(&v).map(Some),
            None => Ok(None),
        }
    }

    /// A fresh random key, in the base64 form [`SealingKey::parse`] reads (for tests and for
    /// telling an operator what to set).
    pub fn generate_base64() -> String {
        STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Encrypts `token` under a fresh random nonce.
    pub fn seal(&self, token: &Secret) -> Result<Vec<u8>, SealError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: token.expose().as_bytes(), aad: PURPOSE })
            .map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`SealingKey::seal`] made with this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Secret, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: PURPOSE })
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_with_its_key_and_hides_the_token() {
        let key = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
        let token = Secret::new("nhanh-token-abc123");
        let sealed = key.seal(&token).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"abc123"), "the plain token is in the sealed bytes");
        assert_eq!(key.open(&sealed).unwrap().expose(), "nhanh-token-abc123");
        // A fresh nonce per write: sealing twice never gives the same bytes.
        assert_ne!(key.seal(&token).unwrap(), sealed);
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_is_refused() {
        let key = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
        let other = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
        let mut sealed = key.seal(&Secret::new("tok")).unwrap();
        assert_eq!(other.open(&sealed).unwrap_err(), SealError::WrongKey);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(key.open(&sealed).unwrap_err(), SealError::WrongKey);
        assert_eq!(key.open(b"short").unwrap_err(), SealError::WrongKey);
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(matches!(SealingKey::parse("not base64!"), Err(SealError::BadKey(_))));
        let short = STANDARD.encode([7u8; 16]);
        let err = SealingKey::parse(&short).unwrap_err();
        assert!(err.to_string().contains("decodes to 16 bytes"), "{err}");
        assert!(SealingKey::parse(&format!(" {} ", STANDARD.encode([7u8; 32]))).is_ok());
        assert!(SealingKey::from_vars(|_| Some("  ".into())).unwrap().is_none());
        assert!(format!("{:?}", SealingKey::parse(&STANDARD.encode([7u8; 32])).unwrap()).contains("***"));
    }
}
