//! The integration tests, one test binary: each module is one former
//! `tests/*.rs` file, `common` holds the shared helpers (one OpenBao dev
//! server per binary through [`common::bao::Bao::shared`], the loopback
//! [`common::TestServer`]) and `hydra_double` the Hydra test double with the
//! checker that pins it to the facts under `tests/fixtures/hydra/`.
//!
//! Run one group with a filter: `cargo test --test it vault_kv::`.

mod common;
mod hydra_double;

mod agent;
mod agent_files;
mod agent_health;
mod agent_templates;
mod bao_diff;
mod canary;
mod cli_contract;
mod cli_local;
mod cli_migrate;
mod cli_tokens;
mod cli_vault;
mod clock_tls;
mod debug_redaction;
mod fast_fallback;
mod gateway;
mod ha_cluster;
mod hostile_env;
mod hostile_identity;
mod hostile_input;
mod hostile_keydir;
mod hostile_proxy;
mod hostile_server;
mod hydra_client;
mod hydra_spec;
mod keydir_swap;
mod openssl_interop;
mod policy;
mod restart_hydra;
mod restart_vault;
mod secrets_cred;
mod secrets_env;
mod secrets_lease;
mod secrets_rotate;
mod signing;
mod vault_auth;
mod vault_http;
mod vault_k8s;
mod vault_kv;
mod vault_renewal;
