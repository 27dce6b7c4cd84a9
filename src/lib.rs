//! # vaultid
//!
//! Keeps an AI agent's identity stable across restarts.
//!
//! An agent is known by a DID bound to an Ed25519 key pair, and to its OAuth2
//! server (Ory Hydra) by a client id and secret. When a pod or an edge device
//! restarts with an empty disk, vaultid restores both from HashiCorp Vault
//! (KV v2) instead of minting a new identity, and keeps a file-locked local
//! copy so the agent keeps working while Vault is away.
//!
//! The crate is blocking by choice: no async runtime, one small HTTP layer
//! over `ureq` and `rustls`, suited to init containers and static binaries on
//! constrained hosts.
//!
//! ```no_run
//! # fn main() -> Result<(), vaultid::Error> {
//! let config = vaultid::Config::from_env()?;
//! let outcome = vaultid::bootstrap::ensure(&config)?;
//! println!("{} from {:?}", outcome.did, outcome.keys_source);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
// Without the `cli` feature the helpers only the command uses (input
// readers, cluster health, the token file, argument grammar) are unused.
#![cfg_attr(not(feature = "cli"), allow(dead_code, unused_imports))]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod agent;
pub mod bootstrap;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod error;
pub(crate) mod http;
pub mod hydra;
pub mod identity;
pub(crate) mod input;
mod secret_string;
pub mod secrets;
mod util;
pub mod vault;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use config::Config;
pub use error::{Error, Result, Service};
pub use secret_string::SecretString;
pub(crate) use util::escape_invisible;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
