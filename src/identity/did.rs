//! Agent id, DID and DID document.
//!
//! Compatible with the Python agent framework:
//!
//! - agent id: the first 16 bytes of `sha256("{author}:{name}")` printed as a
//!   lowercase 8-4-4-4-12 UUID (version and variant bits untouched), unless
//!   an explicit UUID is given;
//! - DID: `did:bindu:{sanitize(author)}:{sanitize(name)}:{agent_id}`;
//! - `did:key`: `did:key:z` + base58btc of the multicodec `0xed 0x01` and the
//!   32-byte public key;
//! - DID document: W3C DID core with one `Ed25519VerificationKey2020`.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::base58;
use super::keys::PublicKey;
use crate::{Error, Result};

/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as a
/// varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// The agent id derived from author and agent name:
/// `UUID(hex(sha256(utf8("{author}:{name}")))[:32])`.
///
/// The inputs are used as given (no trimming, no case folding), and the
/// UUID's version and variant bits are left as the hash made them.
///
/// ```
/// use vaultid::identity::derive_agent_id;
/// assert_eq!(
///     derive_agent_id("user@example.com", "my-agent"),
///     "fabb74f0-a028-4fe9-efd6-4efcbbd10d44"
/// );
/// ```
pub fn derive_agent_id(author: &str, name: &str) -> String {
    let digest = Sha256::new()
        .chain_update(author.as_bytes())
        .chain_update(b":")
        .chain_update(name.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// A DID component from an author or agent name: full Unicode lowercase
/// (as Python's `str.lower`, including the final sigma), then `" "` to
/// `"_"`, `"@"` to `"_at_"` and `"."` to `"_"`: `User@Example.com` becomes
/// `user_at_example_com`.
pub fn sanitize(v: &str) -> String {
    v.to_lowercase()
        .replace(' ', "_")
        .replace('@', "_at_")
        .replace('.', "_")
}

/// Who the agent is: author, name, agent id and the DID made from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Identity {
    /// The author as configured (e.g. an e-mail address).
    pub author: String,
    /// The agent's name as configured.
    pub agent_name: String,
    /// The agent id: a lowercase hyphenated UUID.
    pub agent_id: String,
    /// `did:bindu:{sanitize(author)}:{sanitize(agent_name)}:{agent_id}`.
    pub did: String,
}

impl Identity {
    /// Build the identity from author and agent name, with the agent id
    /// derived from them ([`derive_agent_id`]) unless `explicit_agent_id` is
    /// given.
    ///
    /// Fails with [`Error::InvalidIdentity`] when author or name is empty or
    /// holds `:`, `/`, `\`, `..` or a character `unsafe_char` refuses
    /// (they become parts of the DID and of storage paths, and are shown to
    /// people), before anything is written, or when the explicit agent id is not
    /// a UUID. An explicit id is normalised to lowercase 8-4-4-4-12.
    ///
    /// ```
    /// use vaultid::identity::Identity;
    /// let id = Identity::new("user@example.com", "my-agent", None).unwrap();
    /// assert_eq!(
    ///     id.did,
    ///     "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44"
    /// );
    /// ```
    pub fn new(
        author: &str,
        agent_name: &str,
        explicit_agent_id: Option<&str>,
    ) -> Result<Identity> {
        check_component("author", "VAULTID_AUTHOR", author)?;
        check_component("agent name", "VAULTID_AGENT_NAME", agent_name)?;
        let agent_id = match explicit_agent_id {
            Some(id) => normalise_uuid(id).ok_or_else(|| {
                Error::InvalidIdentity(format!(
                    "agent id {id:?} is not a UUID: give one like \
                     fabb74f0-a028-4fe9-efd6-4efcbbd10d44 (VAULTID_AGENT_ID), or leave it unset \
                     to derive it from author and agent name"
                ))
            })?,
            None => derive_agent_id(author, agent_name),
        };
        let did = format!(
            "did:bindu:{}:{}:{agent_id}",
            sanitize(author),
            sanitize(agent_name)
        );
        Ok(Identity {
            author: author.to_string(),
            agent_name: agent_name.to_string(),
            agent_id,
            did,
        })
    }
}

/// Why `c` cannot be in a DID part or a KV path, or `None` when it can.
/// Refused: `?` and `#` (a URL's query and fragment: they cut a DID or a
/// KV path short), control characters, Unicode format characters (bidi
/// controls, zero-width characters: they make a reader see something else)
/// and the line and paragraph separators U+2028/U+2029.
pub(crate) fn unsafe_char(c: char) -> Option<&'static str> {
    let n = c as u32;
    if matches!(c, '?' | '#') {
        Some("a URL query or fragment character")
    } else if c.is_control() {
        Some("a control character")
    } else if matches!(n, 0x2028 | 0x2029) {
        Some("a line or paragraph separator")
    } else if crate::util::is_format_char(c) {
        Some("an invisible Unicode format character (bidi control, zero-width or similar)")
    } else {
        None
    }
}

/// The first character of `value` that [`unsafe_char`] refuses, described.
fn first_unsafe(value: &str) -> Option<String> {
    value
        .chars()
        .find_map(|c| unsafe_char(c).map(|why| format!("contains U+{:04X}, {why}", c as u32)))
}

/// Reject values that would break the DID or a storage path built from it.
fn check_component(field: &str, var: &str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("is empty".to_string())
    } else if let Some(c) = value.chars().find(|c| matches!(c, ':' | '/' | '\\')) {
        Some(format!("contains {c:?}"))
    } else if let Some(why) = first_unsafe(value) {
        Some(why)
    } else if value.contains("..") {
        Some("contains \"..\"".to_string())
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidIdentity(format!(
            "{field} {value:?} {reason}: the {field} becomes part of the DID and of storage paths, \
             so it must be non-empty and free of ':', '/', '\\', '?', '#', \"..\", control and \
             invisible format characters; \
             fix {var}"
        ))),
    }
}

/// Lowercase hyphenated form of any UUID the `uuid` crate accepts.
fn normalise_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// A parsed DID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedDid {
    /// `did:bindu:{author}:{agent_name}:{agent_id}`. The parts are as they
    /// appear in the DID, i.e. already sanitized.
    Bindu {
        /// The sanitized author.
        author: String,
        /// The sanitized agent name.
        agent_name: String,
        /// The agent id, a lowercase hyphenated UUID.
        agent_id: String,
    },
    /// `did:key:z...` holding an Ed25519 public key.
    Key(PublicKey),
}

/// Parse a `did:bindu:...` or `did:key:z...` DID.
///
/// A `did:bindu` DID has exactly five `:`-separated parts, non-empty author
/// and name free of `/`, `\`, control characters and `..`, and a lowercase
/// hyphenated UUID. A `did:key` must be multibase base58btc (`z`) of the
/// Ed25519 multicodec (`0xed 0x01`) and a valid 32-byte public key. Anything
/// else is an [`Error::InvalidIdentity`] saying what is wrong.
pub fn parse_did(s: &str) -> Result<ParsedDid> {
    let invalid = |why: String| Error::InvalidIdentity(format!("DID {s:?} {why}"));
    if let Some(rest) = s.strip_prefix("did:bindu:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let [author, agent_name, agent_id] = parts.as_slice() else {
            return Err(invalid(format!(
                "has {} parts; expected did:bindu:<author>:<agent name>:<agent id>",
                parts.len() + 2
            )));
        };
        for (field, value) in [("author", author), ("agent name", agent_name)] {
            if value.is_empty() {
                return Err(invalid(format!("has an empty {field}")));
            }
            if value.chars().any(|c| matches!(c, '/' | '\\')) || value.contains("..") {
                return Err(invalid(format!("has an {field} with '/', '\\' or \"..\"")));
            }
            if let Some(why) = first_unsafe(value) {
                return Err(invalid(format!("has an {field} that {why}")));
            }
        }
        match normalise_uuid(agent_id) {
            Some(u) if u == *agent_id => {}
            _ => {
                return Err(invalid(format!(
                    "ends in {agent_id:?}, which is not a lowercase hyphenated UUID"
                )))
            }
        }
        return Ok(ParsedDid::Bindu {
            author: author.to_string(),
            agent_name: agent_name.to_string(),
            agent_id: agent_id.to_string(),
        });
    }
    if let Some(rest) = s.strip_prefix("did:key:") {
        let encoded = rest.strip_prefix('z').ok_or_else(|| {
            invalid("is not multibase base58btc: the key part must start with 'z'".to_string())
        })?;
        // 34 bytes are at most 47 base58 characters.
        if encoded.len() > 64 {
            return Err(invalid("is too long for an Ed25519 did:key".to_string()));
        }
        let bytes = base58::decode(encoded).map_err(|e| invalid(format!("is not base58: {e}")))?;
        let key = match bytes.split_at_checked(2) {
            Some((prefix, key)) if prefix == ED25519_MULTICODEC => key,
            _ => {
                let prefix: String = bytes.iter().take(2).map(|b| format!("{b:02x}")).collect();
                return Err(invalid(format!(
                    "has multicodec prefix 0x{prefix}, not Ed25519 (0xed01)"
                )));
            }
        };
        let key: [u8; 32] = key.try_into().map_err(|_| {
            invalid(format!(
                "holds a {}-byte key; an Ed25519 public key has 32 bytes",
                key.len()
            ))
        })?;
        let public = PublicKey::from_untrusted_bytes(key)
            .map_err(|_| invalid("does not hold a valid Ed25519 public key".to_string()))?;
        return Ok(ParsedDid::Key(public));
    }
    Err(invalid(
        "is not supported: expected did:bindu:<author>:<agent name>:<agent id> or did:key:z..."
            .to_string(),
    ))
}

/// The `did:key` of an Ed25519 public key: `did:key:z` + base58btc of
/// `0xed 0x01` and the 32 key bytes.
pub fn did_key(public: &PublicKey) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&ED25519_MULTICODEC);
    bytes.extend_from_slice(public.as_bytes());
    format!("did:key:z{}", base58::encode(&bytes))
}

/// The DID document of `did` with one Ed25519 authentication key:
///
/// ```json
/// {"@context": ["https://www.w3.org/ns/did/v1", "https://getbindu.com/ns/v1"],
///  "id": did, "created": created,
///  "authentication": [{"id": did + "#key-1", "type": "Ed25519VerificationKey2020",
///                      "controller": did, "publicKeyBase58": base58(public)}]}
/// ```
///
/// `created` is an ISO 8601 timestamp, e.g. `2026-01-02T03:04:05Z`. Object
/// keys serialize in `serde_json`'s map order; consumers compare documents
/// as JSON, not as text.
pub fn did_document(did: &str, public: &PublicKey, created: &str) -> serde_json::Value {
    serde_json::json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://getbindu.com/ns/v1"],
        "id": did,
        "created": created,
        "authentication": [{
            "id": format!("{did}#key-1"),
            "type": "Ed25519VerificationKey2020",
            "controller": did,
            "publicKeyBase58": public.base58(),
        }],
    })
}

pub(crate) use crate::util::time::now_iso8601;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::keys::KeyPair;
    use crate::util::time::format_iso8601;

    #[test]
    fn agent_id_vectors() {
        assert_eq!(
            derive_agent_id("user@example.com", "my-agent"),
            "fabb74f0-a028-4fe9-efd6-4efcbbd10d44"
        );
        assert_eq!(
            derive_agent_id("dutta.raahul@gmail.com", "postman"),
            "640b6e9e-5e6e-c96d-c32c-6691db5b7944"
        );
        // Raw input: no trimming or case folding.
        assert_ne!(
            derive_agent_id("User@example.com", "my-agent"),
            derive_agent_id("user@example.com", "my-agent")
        );
    }

    #[test]
    fn sanitize_matches_python_lower() {
        assert_eq!(sanitize("User@Example.com"), "user_at_example_com");
        // Expected values from Python 3: `v.lower()` then the replacements.
        assert_eq!(
            sanitize("User Name@Example.COM"),
            "user_name_at_example_com"
        );
        assert_eq!(sanitize("ΑΣ"), "ας"); // final sigma
        assert_eq!(sanitize("ΑΣΑ"), "ασα");
        assert_eq!(sanitize("Σ"), "σ");
        assert_eq!(sanitize("ΑΣ Β"), "ας_β");
        assert_eq!(sanitize("A.Σ"), "a_ς"); // '.' is case-ignorable
        assert_eq!(sanitize("ẞ"), "ß");
        assert_eq!(sanitize("İ"), "i\u{307}"); // two code points, as in Python
        assert_eq!(sanitize("my-agent"), "my-agent");
    }

    #[test]
    fn identity_from_vectors() {
        let id = Identity::new("user@example.com", "my-agent", None).unwrap();
        assert_eq!(id.agent_id, "fabb74f0-a028-4fe9-efd6-4efcbbd10d44");
        assert_eq!(
            id.did,
            "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44"
        );
        let id = Identity::new("dutta.raahul@gmail.com", "postman", None).unwrap();
        assert_eq!(
            id.did,
            "did:bindu:dutta_raahul_at_gmail_com:postman:640b6e9e-5e6e-c96d-c32c-6691db5b7944"
        );
        assert!(matches!(parse_did(&id.did), Ok(ParsedDid::Bindu { .. })));
    }

    #[test]
    fn explicit_agent_id_is_normalised() {
        for given in [
            "FABB74F0-A028-4FE9-EFD6-4EFCBBD10D44",
            "fabb74f0a0284fe9efd64efcbbd10d44",
            "{fabb74f0-a028-4fe9-efd6-4efcbbd10d44}",
        ] {
            let id = Identity::new("a", "b", Some(given)).unwrap();
            assert_eq!(id.agent_id, "fabb74f0-a028-4fe9-efd6-4efcbbd10d44");
            assert!(id.did.ends_with(":fabb74f0-a028-4fe9-efd6-4efcbbd10d44"));
        }
    }

    fn rejected(author: &str, name: &str, id: Option<&str>, needle: &str) {
        match Identity::new(author, name, id) {
            Err(Error::InvalidIdentity(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{author:?}/{name:?}/{id:?}: expected InvalidIdentity, got {other:?}"),
        }
    }

    #[test]
    fn rejects_empty_author() {
        rejected("", "agent", None, "author \"\" is empty");
    }

    #[test]
    fn rejects_empty_name() {
        rejected("me", "", None, "agent name \"\" is empty");
    }

    #[test]
    fn rejects_colon() {
        rejected("a:b", "agent", None, "author \"a:b\" contains ':'");
        rejected("me", "x:y", None, "agent name \"x:y\" contains ':'");
    }

    #[test]
    fn rejects_slashes() {
        rejected("a/b", "agent", None, "contains '/'");
        rejected("me", "a\\b", None, "contains '\\\\'");
    }

    #[test]
    fn rejects_control_characters() {
        rejected("a\nb", "agent", None, "control character");
        rejected("me", "a\u{0}b", None, "control character");
        rejected("me", "a\u{7f}", None, "control character");
    }

    #[test]
    fn rejects_what_cuts_a_path_or_spoofs_a_reader() {
        rejected("me", "agent?x=1", None, "query or fragment");
        rejected("me#frag", "agent", None, "query or fragment");
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            rejected("me", &format!("ag{c}ent"), None, "format character");
        }
        rejected("me", "a\u{2028}b", None, "separator");
        rejected("me\u{2029}", "agent", None, "separator");
        rejected("me", "a\u{85}b", None, "control character");
        // Scripts and emoji are fine: only the invisible and the cutting are refused.
        for ok in ["Ünïcödé", "агент", "エージェント", "agent-🚀", "مرحبا"] {
            Identity::new("me", ok, None).unwrap();
        }
        let did = "did:bindu:me:ag\u{202E}ent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
        assert!(parse_did(did).is_err());
        let did = "did:bindu:me:agent#x:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
        assert!(parse_did(did).is_err());
    }

    #[test]
    fn rejects_dot_dot() {
        rejected("..", "agent", None, "contains \"..\"");
        rejected("me", "a..b", None, "VAULTID_AGENT_NAME");
    }

    #[test]
    fn rejects_bad_explicit_agent_id() {
        rejected("me", "agent", Some("not-a-uuid"), "is not a UUID");
        rejected("me", "agent", Some(""), "is not a UUID");
        rejected(
            "me",
            "agent",
            Some("fabb74f0-a028-4fe9-efd6-4efcbbd10d4"),
            "is not a UUID",
        );
    }

    #[test]
    fn parse_did_rejects_bad_strings() {
        for (bad, needle) in [
            ("", "not supported"),
            ("did:web:example.com", "not supported"),
            ("did:bindu:a:b", "has 4 parts"),
            (
                "did:bindu:a:b:c:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
                "has 6 parts",
            ),
            (
                "did:bindu::b:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
                "empty author",
            ),
            (
                "did:bindu:a::fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
                "empty agent name",
            ),
            (
                "did:bindu:a/x:b:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
                "'/'",
            ),
            (
                "did:bindu:a:..:fabb74f0-a028-4fe9-efd6-4efcbbd10d44",
                "\"..\"",
            ),
            (
                "did:bindu:a:b:not-a-uuid",
                "not a lowercase hyphenated UUID",
            ),
            (
                "did:bindu:a:b:FABB74F0-A028-4FE9-EFD6-4EFCBBD10D44",
                "lowercase",
            ),
            ("did:key:abc", "must start with 'z'"),
            ("did:key:z0OIl", "not base58"),
            ("did:key:z", "multicodec prefix 0x"),
            (
                "did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F",
                "not Ed25519",
            ),
        ] {
            match parse_did(bad) {
                Err(Error::InvalidIdentity(m)) => assert!(m.contains(needle), "{bad:?}: {m}"),
                other => panic!("{bad:?}: expected InvalidIdentity, got {other:?}"),
            }
        }
        assert!(parse_did(&format!("did:key:z{}", "2".repeat(5000))).is_err());
        let short = format!("did:key:z{}", base58::encode(&[0xed, 0x01, 1, 2, 3]));
        match parse_did(&short) {
            Err(Error::InvalidIdentity(m)) => assert!(m.contains("3-byte key"), "{m}"),
            other => panic!("expected InvalidIdentity, got {other:?}"),
        }
    }

    #[test]
    fn did_key_round_trip() {
        // W3C did:key test vector (Ed25519).
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        let Ok(ParsedDid::Key(public)) = parse_did(did) else {
            panic!("did:key vector did not parse")
        };
        assert_eq!(did_key(&public), did);
        let kp = KeyPair::generate();
        let did = did_key(&kp.public());
        assert!(did.starts_with("did:key:z6Mk"));
        assert_eq!(parse_did(&did).unwrap(), ParsedDid::Key(kp.public()));
    }

    #[test]
    fn did_document_shape() {
        let kp = KeyPair::generate();
        let did = "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
        let doc = did_document(did, &kp.public(), "2026-01-02T03:04:05.000006+00:00");
        let expected = serde_json::json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://getbindu.com/ns/v1"],
            "id": did,
            "created": "2026-01-02T03:04:05.000006+00:00",
            "authentication": [{
                "id": format!("{did}#key-1"),
                "type": "Ed25519VerificationKey2020",
                "controller": did,
                "publicKeyBase58": kp.public().base58(),
            }],
        });
        assert_eq!(doc, expected);
    }

    #[test]
    fn iso8601_formatting() {
        assert_eq!(format_iso8601(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            format_iso8601(951_782_400, 1),
            "2000-02-29T00:00:00.000001+00:00"
        );
        assert_eq!(
            format_iso8601(1_795_235_622, 123_456),
            "2026-11-21T04:33:42.123456+00:00"
        );
        assert_eq!(
            format_iso8601(4_107_542_399, 999_999),
            "2100-02-28T23:59:59.999999+00:00"
        );
        assert_eq!(
            format_iso8601(4_107_542_400, 0),
            "2100-03-01T00:00:00+00:00"
        );
        let now = now_iso8601();
        assert!(now.ends_with("+00:00") && now.len() >= 25, "{now}");
    }
}
