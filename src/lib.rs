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
//!
//! ## What you can do, and where
//!
//! | to | use |
//! |---|---|
//! | restore (or create) the identity at start-up | [`bootstrap::ensure`] with a [`Config`] |
//! | sign and verify as the agent, read its DID | [`cache::KeyDir`] (the local pair), [`identity`] |
//! | get an OAuth2 token for the agent's Hydra client | [`bootstrap::token_client`], [`hydra::TokenClient`] |
//! | call another agent, or verify a caller, with the framework's DID-signed envelope | [`signing`] |
//! | log in to Vault, keep the token renewed, use KV v2 | [`vault::Client`], [`vault::Kv2`] |
//! | run a command with secrets in its environment | [`secrets::load_secrets`], [`secrets::Supervisor`], [`secrets::run_command`] |
//! | keep a dynamic secret's lease alive | [`secrets::LeaseWatcher`] |
//! | keep token, secret files and certificates current | [`agent::Agent`] |
//!
//! Settings come from the environment ([`Config::from_env`]; the variables
//! are listed in the README) or are built in code ([`Config::local`],
//! [`config::VaultConfig::new`]). Every public struct with public fields
//! and every public enum is `#[non_exhaustive]`, so a new setting, answer
//! field or variant is not a breaking change: a `match` on one of them
//! ends in a `_` arm.
//!
//! Every call returns [`Error`], which says what failed and where and
//! never carries a secret; [`Error::exit_code`] maps it onto the command's
//! exit codes. Tokens, client secrets and private keys are held in
//! [`SecretString`]s, whose `Debug` and `Display` show nothing.
//!
//! ## Cargo features
//!
//! - `cli` (default): the `vaultid` command, [`cli::main`]. A program that
//!   only uses the library turns it off with `default-features = false`.
//! - `fuzzing`: a hidden module with the parsers and internals the fuzz
//!   targets and the crate's own tests reach (it turns on `cli`). Not public API: it may change
//!   in any release. The doc examples of internal items go through it, so
//!   they run only with the feature (`cargo test --doc --features fuzzing`);
//!   the repository's tests turn it on through a dev-dependency on the
//!   crate itself, which the published crate does not carry.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]
// Every foreign call and every `unsafe` block is in `sys`, each with a
// `// SAFETY:` comment; the rest of the crate is safe Rust.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The semver fence. `pub` means reachable from the crate root: through the
// public API, or through `fuzzing`, which re-exports internals for the fuzz
// targets and the integration tests; so `unreachable_pub` is judged with
// that feature on (`cargo clippy --all-targets`), where those re-exports
// exist. The exhaustive lints are judged on the public API alone, without
// `fuzzing` (`cargo clippy --no-default-features --lib`): what only
// `fuzzing` reaches carries no semver promise. A struct with public fields
// or an enum is `#[non_exhaustive]`, or says on an `allow` why it is closed.
#![cfg_attr(feature = "fuzzing", warn(unreachable_pub))]
#![cfg_attr(
    not(feature = "fuzzing"),
    warn(clippy::exhaustive_enums, clippy::exhaustive_structs)
)]

pub mod agent;
pub mod bootstrap;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod error;
pub mod gateway;
pub(crate) mod http;
pub mod hydra;
pub mod identity;
pub(crate) mod input;
mod secret_string;
pub mod secrets;
pub mod signing;
#[allow(unsafe_code)]
mod sys;
pub(crate) mod template;
mod util;
pub mod vault;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use config::Config;
pub use error::{Error, Result, Service, TransportKind};
pub use secret_string::SecretString;
#[cfg(feature = "cli")]
pub(crate) use util::escape_invisible;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
