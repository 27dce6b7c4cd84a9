//! Helpers shared by several modules, one home each: time formatting,
//! randomness (jitter and secrets), base64, mutex locking, request paths.
//! Internal to the crate.

pub mod base64;
pub mod random;
pub mod time;

use std::sync::{Mutex, MutexGuard};

/// Lock a mutex, ignoring poisoning (the data is plain state that a
/// panicking holder cannot leave half-written).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of a request target without its query (which may carry
/// secrets, e.g. a wrapped token) or fragment: for messages and logs.
pub(crate) fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_query_keeps_the_path() {
        assert_eq!(strip_query("/v1/x?token=s"), "/v1/x");
        assert_eq!(strip_query("/v1/x"), "/v1/x");
        assert_eq!(strip_query("/v1/x#frag"), "/v1/x");
        assert_eq!(strip_query(""), "");
    }

    #[test]
    fn lock_survives_poisoning() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert_eq!(*lock(&m), 1);
    }
}
