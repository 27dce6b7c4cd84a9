//! Secrets at run time: environment injection, dynamic secrets with lease
//! renewal, rotation, and a Vault-backed credential store.
//!
//! - [`env`](mod@env): KV v2 secrets as environment variables ([`load_secrets`]).
//! - [`shell`]: `export NAME='value'` lines a POSIX shell can `eval`.
//! - `supervisor`: run a command with those variables (`Supervisor`):
//!   signals forwarded, restart, `SIGTERM` then `SIGKILL`, exit code passed
//!   through; `process` holds the signal handling underneath.
//! - `run`: a command with static and dynamic secrets, leases
//!   renewed while it runs and revoked after ([`run_command`]).
//! - [`lease`]: dynamic secrets (`database/creds/...`) kept alive by a
//!   background renewer ([`lease::LeaseWatcher`]).
//! - [`rotate`](mod@rotate): replace one field of a KV secret with check-and-set.
//! - `credstore`: per-agent client credentials, stored as hashes.
//!
//! Secret values live in [`SecretString`](crate::SecretString)s: they never
//! appear in `Debug` output, logs or error messages.

pub(crate) mod credstore;
pub mod env;
pub mod lease;
pub(crate) mod process;
pub mod rotate;
pub(crate) mod run;
pub mod shell;
pub(crate) mod supervisor;

pub use credstore::{constant_time_eq, CredentialStore, NewCredential};
pub use env::{load_secrets, EnvOptions, SecretSpec};
pub use lease::{DynamicSecret, LeaseEvent, LeasePolicy, LeaseWatcher};
pub use process::CREDENTIAL_VARS;
pub use rotate::{rotate, rotate_field, NewValue, Rotated};
pub use run::{run_command, OnRotate};
pub use supervisor::{spawn_failure_code, Signal, Supervisor, DEFAULT_STOP_GRACE};
