//! The agent's identity: agent id, DID, keys, PEM. Never touches the network.
//!
//! - `did`: the agent id derived from author and agent name, the
//!   `did:bindu` DID, `did:key`, the DID document;
//! - `keys`: Ed25519 key pairs, public keys and base58 signatures;
//! - `pem`: PEM armour and the PKCS#8 / SubjectPublicKeyInfo DER of
//!   Ed25519 keys, byte-compatible with OpenSSL 3 and Python `cryptography`;
//! - `base58`, `base64`: the codecs those need (internal).
//!
//! ```
//! use vaultid::identity::{did_document, Identity, KeyPair};
//!
//! let id = Identity::new("user@example.com", "my-agent", None)?;
//! assert_eq!(id.agent_id, "fabb74f0-a028-4fe9-efd6-4efcbbd10d44");
//!
//! let keys = KeyPair::generate();
//! let signature = keys.sign(b"hello");
//! keys.public().verify(b"hello", &signature)?;
//!
//! let doc = did_document(&id.did, &keys.public(), "2026-01-01T00:00:00+00:00");
//! assert_eq!(doc["authentication"][0]["publicKeyBase58"], keys.public().base58());
//! # Ok::<(), vaultid::Error>(())
//! ```

pub(crate) mod base58;
pub(crate) mod did;
pub(crate) mod keys;
pub(crate) mod pem;

pub(crate) use did::now_iso8601;
pub use did::{derive_agent_id, did_document, did_key, parse_did, Identity, ParsedDid};
pub use keys::{KeyPair, PublicKey};
