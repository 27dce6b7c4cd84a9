//! The replay guard: refuses a signature already accepted inside the
//! window. In memory, bounded, no I/O.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use super::envelope::{decode_signature, unix_now, Rejection, SignatureHeaders, DEFAULT_WINDOW};

/// Default number of signatures a [`ReplayGuard`] remembers.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Remembers the signatures it accepted while they are inside the window,
/// and refuses them a second time ([`Rejection::Replayed`]).
///
/// A signature over timestamp `t` can only be accepted while the clock is
/// within `t ± window`, so the guard forgets it once the clock passes
/// `t + window`: memory is bounded by the requests accepted in one window,
/// and by `capacity` (about 100 bytes each). When the guard is full of
/// signatures that are all still inside the window it refuses new ones
/// ([`Rejection::ReplayGuardFull`]) instead of forgetting one that could
/// then be replayed.
///
/// Use one guard per verifier (it is `Sync`), and call
/// [`ReplayGuard::check`] only after [`super::verify_request`] accepted the
/// request, so that forged signatures never take room.
///
/// ```
/// use vaultid::identity::KeyPair;
/// use vaultid::signing::{sign_request, ReplayGuard, Rejection};
///
/// let keys = KeyPair::generate();
/// let h = sign_request(&keys, "did:bindu:a:b:c", b"{}", 1_000)?;
/// let guard = ReplayGuard::new();
/// guard.check_at(&h, 1_000)?;
/// assert!(matches!(guard.check_at(&h, 1_001), Err(Rejection::Replayed { .. })));
/// # Ok::<(), Rejection>(())
/// ```
#[derive(Debug)]
pub struct ReplayGuard {
    window_secs: i64,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Signatures held.
    set: HashSet<[u8; 64]>,
    /// The same, ordered by when they may be forgotten.
    by_expiry: BTreeSet<(i64, [u8; 64])>,
}

impl Default for ReplayGuard {
    fn default() -> ReplayGuard {
        ReplayGuard::new()
    }
}

impl ReplayGuard {
    /// A guard for the default window (300 s) holding at most
    /// [`DEFAULT_REPLAY_CAPACITY`] signatures.
    pub fn new() -> ReplayGuard {
        ReplayGuard::with_limits(DEFAULT_WINDOW, DEFAULT_REPLAY_CAPACITY)
    }

    /// A guard for `window` (the verifier's) holding at most `capacity`
    /// signatures (at least one).
    pub fn with_limits(window: Duration, capacity: usize) -> ReplayGuard {
        ReplayGuard {
            window_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// [`ReplayGuard::check_at`] with the system clock.
    pub fn check(&self, headers: &SignatureHeaders) -> Result<(), Rejection> {
        self.check_at(headers, unix_now())
    }

    /// Remember the request's signature, or refuse it when it was seen
    /// before. `now` is the verifier's clock (Unix seconds).
    pub fn check_at(&self, headers: &SignatureHeaders, now: i64) -> Result<(), Rejection> {
        let sig: [u8; 64] = *decode_signature(&headers.signature)?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Forget what can no longer be accepted.
        while let Some(&(expiry, s)) = seen.by_expiry.first() {
            if expiry >= now {
                break;
            }
            seen.by_expiry.pop_first();
            seen.set.remove(&s);
        }
        if seen.set.contains(&sig) {
            return Err(Rejection::Replayed {
                timestamp: headers.timestamp,
            });
        }
        if seen.set.len() >= self.capacity {
            return Err(Rejection::ReplayGuardFull {
                capacity: self.capacity,
            });
        }
        let expiry = headers.timestamp.saturating_add(self.window_secs);
        seen.set.insert(sig);
        seen.by_expiry.insert((expiry, sig));
        Ok(())
    }

    /// How many signatures it holds now.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set
            .len()
    }

    /// `true` when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::KeyPair;
    use crate::signing::sign_request;

    #[test]
    fn refuses_a_replay_forgets_after_the_window_and_stays_bounded() {
        let keys = KeyPair::generate();
        let guard = ReplayGuard::with_limits(Duration::from_secs(300), 3);
        let sign = |body: &[u8], t| sign_request(&keys, "did:x", body, t).unwrap();
        let a = sign(b"a", 1000);
        guard.check_at(&a, 1000).unwrap();
        assert_eq!(guard.check_at(&a, 1299).unwrap_err().reason(), "replayed");
        // Once the window is over it is forgotten (verify would refuse it
        // as out of window anyway).
        guard.check_at(&sign(b"b", 1000), 1000).unwrap();
        guard.check_at(&sign(b"c", 1000), 1000).unwrap();
        assert_eq!(guard.len(), 3);
        let e = guard.check_at(&sign(b"d", 1000), 1000).unwrap_err();
        assert_eq!(e.reason(), "replay_guard_full");
        guard.check_at(&sign(b"d", 1301), 1301).unwrap();
        assert_eq!(guard.len(), 1, "the three from t=1000 were forgotten");
        // A signature that is not base58 is refused, not remembered.
        let mut bad = a.clone();
        bad.signature = "0".into();
        assert_eq!(
            guard.check_at(&bad, 1301).unwrap_err().reason(),
            "malformed_input"
        );
    }
}
