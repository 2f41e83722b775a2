//! The tokens this process has already verified, so a client's next request with the same token
//! skips the signature check and the claims' decoding.
//!
//! Why: a client sends one token with every request for the token's whole lifetime, and checking
//! it was about 7% of the CPU of an authenticated read (bench/README.md, "Where the time goes").
//! A token found here with the very same bytes was verified by the same keys, so its claims are
//! what they were; only time moves, and the caller checks the expiry on every hit. Nothing about
//! revocation is kept here: the session is checked on every request, found here or not.
//!
//! Bounded whatever clients send: [`SLOTS`] slots, each holding one token (a newer one replaces
//! it), only tokens that passed verification and are at most [`MAX_TOKEN_LEN`] bytes. A token's
//! slot comes from a hash keyed per process, so no client can aim its tokens at another's slot,
//! and the slot's token is compared in constant time, so how long a lookup takes says nothing
//! about the bytes of a token someone else holds.

use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Enough for the clients one replica serves at once; a miss only costs the full check.
const SLOTS: usize = 1024;
/// Our tokens are about 250 bytes; anything much longer is not one of ours worth keeping.
const MAX_TOKEN_LEN: usize = 512;

/// What a verified token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) sub: Uuid,
    /// The session the token names; `None` for a token of the release before sessions.
    pub(crate) sid: Option<Uuid>,
    /// Unix seconds; the token is valid up to and including this second.
    pub(crate) exp: i64,
}

struct Slot {
    token: Box<str>,
    verified: Verified,
}

pub(super) struct VerifiedTokens {
    hasher: RandomState,
    slots: Box<[Mutex<Option<Slot>>]>,
}

impl VerifiedTokens {
    pub(super) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn slot(&self, token: &str) -> &Mutex<Option<Slot>> {
        // The remainder of a 64-bit hash: every slot equally likely.
        let index = (self.hasher.hash_one(token) % SLOTS as u64) as usize;
        &self.slots[index]
    }

    /// What `token` said when it was verified, if it is still here; expired or not.
    pub(super) fn get(&self, token: &str) -> Option<Verified> {
        let slot = self.slot(token).lock();
        let cached = slot.as_ref()?;
        bool::from(cached.token.as_bytes().ct_eq(token.as_bytes())).then_some(cached.verified)
    }

    /// Keeps `token`, which has just passed verification, in place of its slot's previous one.
    pub(super) fn insert(&self, token: &str, verified: Verified) {
        if token.len() > MAX_TOKEN_LEN {
            return;
        }
        let fresh = Some(Slot {
            token: token.into(),
            verified,
        });
        // The replaced token is freed after the lock is let go.
        let _replaced = std::mem::replace(&mut *self.slot(token).lock(), fresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: i64) -> Verified {
        Verified {
            sub: Uuid::now_v7(),
            sid: Some(Uuid::now_v7()),
            exp,
        }
    }

    #[test]
    fn a_kept_token_is_found_only_with_the_very_same_bytes() {
        let tokens = VerifiedTokens::new();
        let said = verified(100);
        tokens.insert("header.claims.mac", said);
        assert_eq!(tokens.get("header.claims.mac"), Some(said));
        assert_eq!(tokens.get("header.claims.mad"), None, "one byte changed");
        assert_eq!(tokens.get("header.claims.ma"), None, "one byte short");
        assert_eq!(tokens.get("header.claims.mac."), None, "one byte more");
    }

    #[test]
    fn memory_stays_bounded_however_many_tokens_arrive() {
        let tokens = VerifiedTokens::new();
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        tokens.insert(&long, verified(100));
        assert_eq!(tokens.get(&long), None, "an over-long token is not kept");
        for n in 0..SLOTS * 4 {
            tokens.insert(&format!("token-{n}"), verified(100));
        }
        let kept = tokens
            .slots
            .iter()
            .filter(|slot| slot.lock().is_some())
            .count();
        assert!(kept <= SLOTS);
        let last = format!("token-{}", SLOTS * 4 - 1);
        assert!(
            tokens.get(&last).is_some(),
            "the newest token replaces its slot's older one"
        );
    }
}
