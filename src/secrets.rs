//! Secrets at run time: environment injection, a supervised command, and
//! dynamic secrets with lease renewal.
//!
//! - KV v2 secrets as environment variables: [`load_secrets`] reads the
//!   [`SecretSpec`]s (`path#key=NAME`) under [`EnvOptions`].
//! - [`Supervisor`] runs a command with those variables: signals
//!   forwarded, restart, `SIGTERM` then `SIGKILL` after a grace period,
//!   exit code passed through.
//! - [`run_command`]: a command with static and dynamic secrets, leases
//!   renewed while it runs and revoked after; [`OnRotate`] says what a
//!   changed secret does to it.
//! - [`LeaseWatcher`]: a dynamic secret (`database/creds/...`) kept alive
//!   by a background renewer under a [`LeasePolicy`].
//!
//! Inside (not public API): `env` (specs, names, precedence), `shell`
//! (`export` lines), `supervisor` and `process` (signals), `run`, `lease`,
//! `rotate` (one field replaced with check-and-set, `vaultid rotate`) and
//! `credstore` (per-agent client credentials stored as hashes, `vaultid
//! cred`).
//!
//! Secret values live in [`SecretString`](crate::SecretString)s: they never
//! appear in `Debug` output, logs or error messages.

#[cfg(feature = "cli")]
pub(crate) mod credstore;
pub(crate) mod env;
pub(crate) mod lease;
pub(crate) mod process;
#[cfg(feature = "cli")]
pub(crate) mod rotate;
pub(crate) mod run;
pub(crate) mod shell;
pub(crate) mod supervisor;

#[cfg(feature = "cli")]
pub(crate) use credstore::CredentialStore;
pub use env::{load_secrets, EnvOptions, SecretSpec};
pub use lease::{DynamicSecret, LeaseEvent, LeasePolicy, LeaseWatcher};
#[cfg(feature = "cli")]
pub(crate) use process::CREDENTIAL_VARS;
#[cfg(feature = "cli")]
pub(crate) use rotate::{rotate_field, NewValue};
pub use run::{run_command, OnRotate};
pub(crate) use supervisor::spawn_failure_code;
pub use supervisor::{Signal, Supervisor};
