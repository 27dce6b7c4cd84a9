//! Randomness: jitter (spreading retries and renewals, never for secrets)
//! and random secrets from the operating system's generator.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::secret_string::zeroize_bytes;

/// A number in `[0, 1)` from the standard library's randomly keyed hasher
/// (jitter only, not for secrets).
pub(crate) fn jitter() -> f64 {
    (jitter_below(1 << 53) as f64) / ((1u64 << 53) as f64)
}

/// A number in `0..bound` (jitter only, not for secrets).
pub(crate) fn jitter_below(bound: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % bound.max(1)
}

/// A random secret of `nbytes` bytes from the operating system's generator,
/// as URL-safe base64 without padding (like Python's
/// `secrets.token_urlsafe(nbytes)`).
pub fn random_secret_urlsafe(nbytes: usize) -> String {
    let mut bytes = Vec::with_capacity(nbytes.next_multiple_of(32));
    while bytes.len() < nbytes {
        bytes.extend_from_slice(&*ed25519_compact::Seed::generate());
    }
    bytes.truncate(nbytes);
    let out = super::base64::encode_url_nopad(&bytes);
    zeroize_bytes(&mut bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            assert!((0.0..1.0).contains(&jitter()));
            assert!(jitter_below(7) < 7);
        }
        assert_eq!(jitter_below(0), 0);
    }
}
