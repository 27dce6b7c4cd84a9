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
    pub use crate::util::base64;
    pub use crate::util::random::random_secret_urlsafe;
    pub use crate::util::time::format_iso8601;
}

/// Vault answers.
pub mod vault {
    pub use crate::vault::auth::parse_auth;
    pub use crate::vault::kv2::merge_patch;
    pub use crate::vault::sys::parse_health;
    pub use crate::vault::{api_path, parse_response, ApiError};

    /// How an answer from a cluster node is to be treated.
    pub fn cluster_verdict(status: u16, body: &[u8]) -> crate::http::Verdict {
        crate::vault::cluster_verdict(status, body)
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
}

/// Configuration grammar.
pub mod config {
    pub use crate::config::parse_duration;
}

/// The local store's files.
pub mod cache {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// `oauth_credentials.json` as read: an object keyed by DID.
    pub fn parse_credentials_file(
        bytes: &[u8],
    ) -> crate::Result<BTreeMap<String, serde_json::Value>> {
        crate::cache::parse_credentials_file(bytes)
    }

    /// Temporary file, fsync, rename, fsync of the directory.
    pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> crate::Result<()> {
        crate::cache::write_atomic(path, bytes, mode)
    }
}

/// Secrets helpers.
pub mod secrets {
    pub use crate::secrets::credstore::secret_sha256_hex;
}

/// Zeroing.
pub mod zeroize {
    pub use crate::secret_string::{zeroize_bytes, zeroize_json, zeroize_string};
}

/// The agent's configuration and status verdict.
pub mod agent {
    pub use crate::agent::config::{mode_or_default, AgentConfig};

    /// The status file's verdict: exit code and annotated document.
    pub fn judge(status: serde_json::Value) -> (u8, serde_json::Value) {
        crate::agent::status::judge(status)
    }
}
