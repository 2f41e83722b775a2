//! Opaque tokens (refresh tokens, password-reset tokens): 256 random bits for the client, and
//! only their SHA-256 hash in the database, so a copy of the database holds nothing to log in with.
//!
//! A plain hash is enough (no salt, no slow hash): the tokens are random, not chosen by people,
//! so there is nothing to guess from the hash, and the lookup by hash stays one index probe.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A fresh token for the client and the hash to store.
pub(crate) fn generate() -> Result<(String, Vec<u8>), anyhow::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

/// The stored form of a token the client presents.
pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_hash_to_what_is_stored() {
        let (a, hash_a) = generate().expect("a token");
        let (b, _) = generate().expect("a token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a), hash_a);
        assert_ne!(hash(&b), hash_a);
    }
}
