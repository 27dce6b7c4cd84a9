//! Internals for the fuzz targets (`fuzz/`) and the crate's own
//! integration tests: the parsers of outside bytes and the pieces they
//! check. Compiled only with the `fuzzing` feature, hidden from the docs,
//! and outside the semver promise: anything here may change in any release.

/// The HTTP layer.
pub mod http {
    pub use crate::http::*;
}

/// Codecs and key formats.
pub mod codec {
    /// Base58 (Bitcoin alphabet).
    pub mod base58 {
        pub use crate::identity::base58::*;
    }
    /// PEM armour and the Ed25519 DER forms.
    pub mod pem {
        pub use crate::identity::pem::*;
    }
    pub use crate::identity::did::sanitize;

    /// A key pair from its two PEM files, which must agree.
    pub fn key_pair_from_pems(
        private_pem: &str,
        public_pem: &str,
    ) -> crate::Result<crate::identity::KeyPair> {
        crate::identity::KeyPair::from_pems(private_pem, public_pem)
    }
    pub use crate::util::base64;
    pub use crate::util::random::random_secret_urlsafe;
    pub use crate::util::time::format_iso8601;
}

/// Vault answers.
pub mod vault {
    pub use crate::vault::auth::parse_auth;
    pub use crate::vault::cluster::{Leader, SealStatus};
    pub use crate::vault::kv2::merge_patch;
    pub use crate::vault::kv2::{KvAdmin, MetadataUpdate};
    pub use crate::vault::response::{api_path, parse_response, ApiError};
    pub use crate::vault::sys::parse_health;

    /// A [`KvSecret`](crate::vault::KvSecret) as a read returns it (the
    /// struct is `#[non_exhaustive]`).
    pub fn kv_secret(
        data: serde_json::Map<String, serde_json::Value>,
        metadata: crate::vault::VersionMetadata,
    ) -> crate::vault::KvSecret {
        crate::vault::KvSecret { data, metadata }
    }

    /// How an answer from a cluster node is to be treated.
    pub fn cluster_verdict(status: u16, body: &[u8]) -> crate::http::Verdict {
        crate::vault::cluster_verdict(status, body)
    }

    /// The mount and KV version in an answer of
    /// `sys/internal/ui/mounts/PATH`: `(mount, is KV v2)`, `None` when the
    /// answer names no mount.
    pub fn parse_kv_mount(answer: Option<&serde_json::Value>) -> Option<(Option<String>, bool)> {
        crate::vault::kv::parse_mount(answer)
            .map(|m| (m.path, m.version == crate::vault::KvVersion::V2))
    }

    /// Which mount holds `path` and whether it is KV v2, as the `kv`
    /// command asks it (`sys/internal/ui/mounts`, once per mount and
    /// client); `None` when the server does not say.
    pub fn kv_mount(
        c: &crate::vault::Client,
        path: &str,
    ) -> crate::Result<Option<(Option<String>, bool)>> {
        Ok(c.kv_mount(path)?
            .map(|m| (m.path, m.version == crate::vault::KvVersion::V2)))
    }

    /// The settings a Vault client was made with.
    pub fn client_config(c: &crate::vault::Client) -> &crate::config::VaultConfig {
        c.config()
    }

    /// The HTTP client under a Vault client.
    pub fn client_http(c: &crate::vault::Client) -> &crate::http::HttpClient {
        c.http()
    }
}

/// Hydra answers.
pub mod hydra {
    pub use crate::hydra::admin::HydraAdmin;
    pub use crate::hydra::model::{
        registration_body, AgentRegistration, CreateOutcome, OAuthClient,
    };
    pub use crate::hydra::wire::{
        encode_path_segment, form_urlencode, parse_client, parse_error, parse_introspection,
        parse_token_response,
    };

    /// An [`AccessToken`](crate::hydra::AccessToken) as the token endpoint
    /// parser returns it (the struct is `#[non_exhaustive]`).
    pub fn access_token(
        access_token: crate::SecretString,
        token_type: &str,
        expires_in: Option<u64>,
        scope: &str,
        received_at: std::time::Instant,
    ) -> crate::hydra::AccessToken {
        crate::hydra::AccessToken {
            access_token,
            token_type: token_type.into(),
            expires_in,
            scope: scope.into(),
            received_at,
        }
    }

    /// Whether the token cache would still hand out `token`.
    pub fn is_fresh(token: &crate::hydra::AccessToken) -> bool {
        token.is_fresh()
    }

    /// When the token cache renews `token` (ahead of its expiry).
    pub fn refresh_at(token: &crate::hydra::AccessToken) -> Option<std::time::Instant> {
        token.refresh_at()
    }
}

/// Configuration grammar.
pub mod config {
    pub use crate::config::grammar::{
        check_kv_path, check_username, check_vault_path, parse_bool, parse_duration, Lookup,
        ProcessEnv,
    };

    /// [`Config::from_lookup`](crate::Config): the settings from any source
    /// of variables.
    pub fn config_from_lookup(env: &dyn Lookup) -> crate::Result<crate::Config> {
        crate::Config::from_lookup(env)
    }

    /// The Vault settings alone from any source of variables; `None` when
    /// no Vault address is set.
    pub fn vault_config_from_lookup(
        env: &dyn Lookup,
    ) -> crate::Result<Option<crate::config::VaultConfig>> {
        crate::config::VaultConfig::from_lookup(env)
    }
}

/// The local store's files.
pub mod cache {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// `hydra_token.json` as read: how many usable entries it holds.
    pub fn parse_token_cache(bytes: &[u8]) -> crate::Result<usize> {
        crate::cache::parse_token_cache(bytes).map(|v| v.len())
    }

    /// `oauth_credentials.json` as read: an object keyed by DID.
    pub fn parse_credentials_file(
        bytes: &[u8],
    ) -> crate::Result<BTreeMap<String, serde_json::Value>> {
        crate::cache::parse_credentials_file(bytes)
    }

    /// A [`LocalKeys`](crate::cache::LocalKeys) as `KeyDir::read_keys`
    /// returns it (the struct is `#[non_exhaustive]`).
    pub fn local_keys(
        keys: crate::identity::KeyPair,
        repaired: Vec<String>,
        public_missing: bool,
    ) -> crate::cache::LocalKeys {
        crate::cache::LocalKeys {
            keys,
            repaired,
            public_missing,
        }
    }

    /// A [`StoredCredentials`](crate::cache::StoredCredentials) entry (the
    /// struct is `#[non_exhaustive]`).
    pub fn stored_credentials(
        agent_id: &str,
        client_id: &str,
        client_secret: crate::SecretString,
        created_at: &str,
        scopes: Vec<String>,
    ) -> crate::cache::StoredCredentials {
        crate::cache::StoredCredentials {
            agent_id: agent_id.into(),
            client_id: client_id.into(),
            client_secret,
            created_at: created_at.into(),
            scopes,
        }
    }

    /// Take the key dir's startup lock, as `vaultid up` does.
    pub fn lock(
        dir: &crate::cache::KeyDir,
        timeout: std::time::Duration,
    ) -> crate::Result<impl Drop + use<>> {
        dir.lock(timeout)
    }

    /// Write a key pair into a key dir (a pair there is kept aside).
    pub fn write_keys(
        dir: &crate::cache::KeyDir,
        keys: &crate::identity::KeyPair,
    ) -> crate::Result<()> {
        dir.write_keys(keys)
    }

    /// Store an agent's OAuth2 credentials in the key dir; the warning, if
    /// the file had to be set aside or is loose.
    pub fn write_credentials(
        dir: &crate::cache::KeyDir,
        did: &str,
        creds: &crate::cache::StoredCredentials,
    ) -> crate::Result<Option<String>> {
        dir.write_credentials(did, creds)
    }

    /// One entry of `oauth_credentials.json`, checked.
    pub fn credentials_from_json(
        v: &serde_json::Map<String, serde_json::Value>,
    ) -> crate::Result<crate::cache::StoredCredentials> {
        crate::cache::StoredCredentials::from_json(v)
    }

    /// An entry of `oauth_credentials.json` as written.
    pub fn credentials_to_json(
        c: &crate::cache::StoredCredentials,
    ) -> serde_json::Map<String, serde_json::Value> {
        c.to_json()
    }

    /// Temporary file, fsync, rename, fsync of the directory.
    pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> crate::Result<()> {
        Ok(crate::util::fs::write_atomic(path, bytes, mode)?)
    }
}

/// Secrets helpers.
pub mod secrets {
    pub use crate::secrets::credstore::{
        constant_time_eq, secret_sha256_hex, CredentialStore, NewCredential,
    };
    pub use crate::secrets::env::{fields_to_vars, EnvBuilder, FieldMap, Precedence};
    pub use crate::secrets::rotate::{rotate_field, NewValue, Rotated};

    /// A dynamic secret from Vault's answer to a read of `path`.
    pub fn dynamic_from_response(
        path: &str,
        answer: &serde_json::Value,
    ) -> crate::Result<crate::secrets::DynamicSecret> {
        crate::secrets::DynamicSecret::from_response(path, answer)
    }
}

/// Zeroing.
pub mod zeroize {
    pub use crate::secret_string::{zeroize_bytes, zeroize_json, zeroize_string};
}

/// The agent's configuration and status verdict.
pub mod agent {
    pub use crate::agent::config::{mode_or_default, AgentConfig};

    /// The intervals a configuration works out to: KV re-read, Vault wait,
    /// longest backoff.
    pub fn intervals(
        c: &AgentConfig,
    ) -> (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    ) {
        (c.kv_interval(), c.vault_wait(), c.backoff_max())
    }

    /// The status file's verdict: exit code and annotated document.
    pub fn judge(status: serde_json::Value) -> (u8, serde_json::Value) {
        crate::agent::status::judge(status)
    }

    /// The readable summary of a judged status document
    /// (`agent status --human`), relative times counted from `now`.
    pub fn human(status: &serde_json::Value, now: u64) -> String {
        crate::agent::status::human(status, now)
    }
}

/// Vault Agent's HCL configuration.
pub mod hcl {
    pub use crate::agent::hcl::{parse, Body, Entry, HclError, Node, Pos, Value, MAX_DEPTH};

    /// HCL bytes onto the agent's model, as `vaultid agent -config=x.hcl`
    /// reads them.
    pub fn agent_config(bytes: &[u8]) -> crate::Result<crate::agent::AgentConfig> {
        crate::agent::hcl_config::parse(bytes, "fuzz.hcl")
    }
}

/// The template engine, on secrets from a table.
pub mod template {
    use crate::template::{Fetch, Limits, Options, Secret, Template};

    /// Secrets for a template from one JSON document: `secret PATH` is the
    /// answer at key PATH (or a small fixed one), `secrets` lists its keys.
    pub struct TableFetch(pub serde_json::Value);

    impl Fetch for TableFetch {
        fn secret(&mut self, path: &str, _p: &[(String, String)]) -> Result<Secret, String> {
            let answer = self.0.get(path).cloned().unwrap_or_else(|| {
                serde_json::json!({"lease_duration": 60, "data": {"data": {"a": 1, "b": [1, "x"], "c": {"d": null}}, "k": "v"}})
            });
            Ok(crate::template::secret_from_answer(&answer))
        }
        fn secrets(&mut self, _path: &str) -> Result<Vec<String>, String> {
            Ok(self
                .0
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default())
        }
        fn pki_cert(&mut self, path: &str, p: &[(String, String)]) -> Result<Secret, String> {
            self.secret(path, p)
        }
        fn env(&mut self, name: &str) -> String {
            name.to_lowercase()
        }
        fn now(&mut self) -> u64 {
            0
        }
    }

    /// Parse `text` (delimiters and missing-key rule as given) and, when it
    /// parses, render it within `limits`: `Ok(Some(output))`, `Ok(None)`
    /// for a template that does not parse, `Err` for one that fails.
    pub fn render(
        text: &str,
        left: Option<&str>,
        right: Option<&str>,
        missing_key_error: bool,
        data: serde_json::Value,
        output: usize,
        steps: u64,
    ) -> Result<Option<String>, String> {
        let opts = Options {
            left: left.map(str::to_string),
            right: right.map(str::to_string),
            missing_key_error,
        };
        let Ok(t) = Template::parse("fuzz", text, &opts) else {
            return Ok(None);
        };
        let limits = Limits {
            output,
            steps,
            depth: 16,
            items: 10_000,
        };
        t.render(&mut TableFetch(data), limits)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// The command line's argument grammar.
pub mod cli {
    pub use crate::cli::args::{boolean, multi, opt, switch, AfterDashes, Args, Flag, VAULT_FLAGS};
}

/// The gateway's HTTP/1.1 request reader and router.
pub mod gateway {
    pub use crate::gateway::request::{parse_head, ChunkedDecoder, Framing, Head, Limits, Refusal};
    pub use crate::gateway::route::percent_decode;
}
