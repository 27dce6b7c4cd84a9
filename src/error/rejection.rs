//! Why a DID-signed request was refused ([`Rejection`], carried by
//! [`crate::Error::Signature`]): the framework's reasons, typed. It lives
//! beside the crate's error so that the error module depends on nothing
//! above it; `crate::signing` re-exports it where it is used.

use std::fmt;

/// Why a signed request was refused. [`Rejection::reason`] gives the
/// framework's word for each case, as its middleware logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// One of the three headers is missing or empty
    /// (`missing_signature_headers`).
    MissingHeader {
        /// The header.
        name: &'static str,
    },
    /// A header, the body or the key cannot be read: a timestamp that is
    /// not a number, a signature that is not base58 of 64 bytes, a body
    /// that is not UTF-8, a key that is not an Ed25519 public key
    /// (`malformed_input`).
    Malformed {
        /// What is wrong, and where.
        detail: String,
    },
    /// The timestamp is further from the verifier's clock than the window
    /// allows (`timestamp_out_of_window`).
    OutsideWindow {
        /// The request's `X-DID-Timestamp`.
        timestamp: i64,
        /// The verifier's clock, Unix seconds.
        now: i64,
        /// The window, seconds either way.
        window_secs: u64,
    },
    /// `X-DID` is not the DID the caller authenticated as (the token's
    /// `client_id`) or the DID the key belongs to (`did_mismatch`).
    DidMismatch {
        /// The DID the verifier expected.
        expected: String,
        /// The DID the request named.
        got: String,
    },
    /// The signature does not verify with the key over the canonical
    /// string: the body, DID or timestamp was changed, or another key
    /// signed (`crypto_mismatch`).
    SignatureMismatch,
    /// No public key is known for the DID: the Hydra client does not exist
    /// or has no `metadata.public_key` (`public_key_unavailable`).
    KeyUnavailable {
        /// The DID.
        did: String,
        /// What was looked at.
        detail: String,
    },
    /// The same signature was already accepted inside the window
    /// ([`crate::signing::ReplayGuard`]; the framework has no such check).
    Replayed {
        /// The request's `X-DID-Timestamp`.
        timestamp: i64,
    },
    /// The replay guard is full of signatures that are still inside the
    /// window; refused rather than forgetting one that could then be
    /// replayed.
    ReplayGuardFull {
        /// How many signatures it holds.
        capacity: usize,
    },
}

impl Rejection {
    /// The framework's word for this reason (`bindu/utils/did/signature.py`
    /// and the Hydra middleware): `missing_signature_headers`,
    /// `malformed_input`, `timestamp_out_of_window`, `did_mismatch`,
    /// `crypto_mismatch`, `public_key_unavailable`; and `replayed`,
    /// `replay_guard_full` for the replay guard.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingHeader { .. } => "missing_signature_headers",
            Rejection::Malformed { .. } => "malformed_input",
            Rejection::OutsideWindow { .. } => "timestamp_out_of_window",
            Rejection::DidMismatch { .. } => "did_mismatch",
            Rejection::SignatureMismatch => "crypto_mismatch",
            Rejection::KeyUnavailable { .. } => "public_key_unavailable",
            Rejection::Replayed { .. } => "replayed",
            Rejection::ReplayGuardFull { .. } => "replay_guard_full",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.reason())?;
        match self {
            Rejection::MissingHeader { name } => write!(f, "the {name} header is missing or empty"),
            Rejection::Malformed { detail } => f.write_str(detail),
            Rejection::OutsideWindow {
                timestamp,
                now,
                window_secs,
            } => write!(
                f,
                "X-DID-Timestamp {timestamp} is {} s from the verifier's clock ({now}); at most \
                 {window_secs} s is accepted: check both clocks, or sign just before sending",
                (i128::from(*now) - i128::from(*timestamp)).abs()
            ),
            Rejection::DidMismatch { expected, got } => {
                write!(f, "X-DID is {got:?}, expected {expected:?}")
            }
            Rejection::SignatureMismatch => f.write_str(
                "the signature does not verify over the body, DID and timestamp: the body was \
                 changed after signing (re-serialised, re-encoded), or another key signed it",
            ),
            Rejection::KeyUnavailable { did, detail } => {
                write!(f, "no public key for {did}: {detail}")
            }
            Rejection::Replayed { timestamp } => write!(
                f,
                "this signature (timestamp {timestamp}) was already accepted inside the window"
            ),
            Rejection::ReplayGuardFull { capacity } => write!(
                f,
                "the replay guard holds {capacity} signatures still inside the window; retry later"
            ),
        }
    }
}

impl std::error::Error for Rejection {}
