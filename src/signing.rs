//! DID-signed calls between agents: the envelope the Python agent
//! framework's servers require, made and checked byte for byte as the
//! framework does (its `bindu/utils/did/signature.py` is the oracle of the
//! test suite).
//!
//! # The protocol
//!
//! A caller whose OAuth2 client id is a DID sends, with every request:
//!
//! - `Authorization: Bearer <token>`: an access token of its Hydra client
//!   (`client_credentials`);
//! - `X-DID`: its DID, which must equal the token's `client_id`;
//! - `X-DID-Timestamp`: the signing time, Unix seconds, in decimal;
//! - `X-DID-Signature`: base58 (Bitcoin alphabet) of the 64-byte Ed25519
//!   signature over the UTF-8 bytes of the **canonical string**.
//!
//! The canonical string is Python's
//! `json.dumps({"body": body, "did": did, "timestamp": timestamp}, sort_keys=True)`
//! where `body` is the request body exactly as sent, decoded as UTF-8
//! ([`canonical_payload`]):
//!
//! ```text
//! {"body": "<body, escaped>", "did": "<did, escaped>", "timestamp": <integer>}
//! ```
//!
//! with the separators `", "` and `": "` and Python's `ensure_ascii`
//! escaping: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`; every other byte
//! below `0x20`, `0x7f` and every non-ASCII character as `\uXXXX`
//! (lower-case hex), characters above U+FFFF as a UTF-16 surrogate pair
//! (`😀` is `\ud83d\ude00`); `/` stays as it is. `jq -S` and
//! `serde_json` write other bytes (no spaces, raw UTF-8): a signature over
//! their output does not verify. A body that is not UTF-8 cannot be
//! signed: the framework decodes the body before it verifies.
//!
//! # How a server decides
//!
//! The framework's Hydra middleware, for every request that is not to a
//! public endpoint: introspects the bearer token at Hydra
//! (`POST /admin/oauth2/introspect`: active, `sub`, `exp` in the future);
//! when the token's `client_id` starts with `did:`, the signature is
//! mandatory: the three headers must be present
//! (`missing_signature_headers`), `X-DID` must equal the client id
//! (`did_mismatch`), the Hydra client must have a `metadata.public_key`
//! (`public_key_unavailable`, read with `GET /admin/clients/{did}`), the
//! body must be at most 2 MB, the timestamp within ±300 s of the server's
//! clock (`timestamp_out_of_window`), signature and key must decode
//! (`malformed_input`) and the signature must verify (`crypto_mismatch`).
//! Any refusal is `403 {"error": "Invalid DID signature", ...}`.
//! [`verify_request`] makes the same checks in the same order, with the
//! same words ([`Rejection::reason`]); [`HydraKeys`] reads the key as the
//! middleware does.
//!
//! The framework does not remember signatures: one captured request can be
//! replayed for five minutes. [`ReplayGuard`] closes that on a verifier
//! that wants to.
//!
//! # Use
//!
//! - [`sign_request`]: body, DID, timestamp → [`SignatureHeaders`];
//! - [`verify_request`]: headers, body, public key, [`VerifyOptions`]
//!   (window, expected DID, clock) → `Ok` or a typed [`Rejection`];
//! - keys: [`public_key_from_base58`], [`public_key_from_did`]
//!   (`did:key`), [`public_key_from_did_document`], [`HydraKeys`]
//!   (Hydra's `metadata.public_key`, cached briefly);
//! - [`Caller`]: a signed call with the agent's token over the crate's
//!   HTTP layer (timeouts, proxy variables, TLS settings; the token and
//!   the body never follow a redirect to another origin).
//!
//! ```
//! use vaultid::identity::KeyPair;
//! use vaultid::signing::{sign_request, verify_request, Rejection, VerifyOptions};
//!
//! let keys = KeyPair::generate();
//! let did = "did:bindu:alice_at_example_com:bot:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
//! let body = r#"{"jsonrpc":"2.0","method":"message/send","params":{"text":"héllo"},"id":1}"#.as_bytes();
//! let headers = sign_request(&keys, did, body, 1_700_000_000)?;
//!
//! let options = VerifyOptions::at(1_700_000_100).expecting(did);
//! verify_request(&headers, body, &keys.public(), &options)?;
//!
//! let changed = br#"{"jsonrpc":"2.0","method":"message/send","params":{"text":"hello"},"id":1}"#;
//! let refused = verify_request(&headers, changed, &keys.public(), &options);
//! assert_eq!(refused.unwrap_err().reason(), "crypto_mismatch");
//! # Ok::<(), Rejection>(())
//! ```

mod call;
mod envelope;
mod keys;
mod replay;
mod signer;

pub use call::{CallConfig, CallResponse, Caller};
pub use envelope::{
    canonical_payload, sign_request, verify_request, Rejection, SignatureHeaders, VerifyOptions,
    DEFAULT_WINDOW, HEADER_DID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
pub use keys::{
    public_key_from_base58, public_key_from_did, public_key_from_did_document, HydraKeys,
    DEFAULT_KEY_TTL, MAX_DID_DOCUMENT,
};
pub use replay::{ReplayGuard, DEFAULT_REPLAY_CAPACITY};
pub(crate) use signer::Signer;

#[cfg(feature = "cli")]
pub(crate) use envelope::unix_now;
