//! Ed25519 keys and signatures.
//!
//! [`KeyPair`] holds the agent's private key; its `Debug` shows only the
//! public key. [`PublicKey`] is what the world sees: base58 in DID documents,
//! `PUBLIC KEY` PEM on disk and in Vault. Signatures are deterministic
//! (RFC 8032) and travel as base58 of their 64 bytes.

use std::fmt;

use super::{base58, pem};
use crate::{Error, Result, SecretString};

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Read and validate 32 raw bytes from outside: they must encode a
    /// curve point that does not have a small order.
    pub(crate) fn from_untrusted_bytes(bytes: [u8; 32]) -> Result<PublicKey> {
        ed25519_compact::PublicKey::new(bytes)
            .validate()
            .map_err(|e| {
                Error::InvalidKey(format!(
                    "public key {} is not a usable Ed25519 key ({e}); the key is corrupt",
                    base58::encode(&bytes)
                ))
            })?;
        Ok(PublicKey(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base58 (Bitcoin alphabet) of the raw bytes, as in a DID document's
    /// `publicKeyBase58`.
    pub fn base58(&self) -> String {
        base58::encode(&self.0)
    }

    /// Read a base58 public key (32 bytes once decoded).
    pub(crate) fn from_base58(s: &str) -> Result<PublicKey> {
        // 32 bytes are at most 44 base58 characters; refuse long input
        // before doing quadratic work on it.
        if s.len() > 64 {
            return Err(Error::InvalidKey(format!(
                "public key is {} characters long; a base58 Ed25519 public key has at most 44",
                s.len()
            )));
        }
        let bytes = base58::decode(s)
            .map_err(|e| Error::InvalidKey(format!("public key is not base58: {e}")))?;
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            Error::InvalidKey(format!(
                "a base58 Ed25519 public key decodes to 32 bytes, this one to {}",
                bytes.len()
            ))
        })?;
        PublicKey::from_untrusted_bytes(bytes)
    }

    /// `PUBLIC KEY` PEM (SubjectPublicKeyInfo), byte-identical to
    /// `openssl pkey -pubout`.
    pub fn pem(&self) -> String {
        pem::encode_public_key(&self.0)
    }

    /// Read a `PUBLIC KEY` PEM holding an Ed25519 key.
    pub fn from_pem(text: &str) -> Result<PublicKey> {
        PublicKey::from_untrusted_bytes(pem::decode_public_key(text)?)
    }

    /// Check a base58 signature over `msg` made by this key's private key.
    ///
    /// Fails with [`Error::Integrity`] when the signature is malformed or does
    /// not verify.
    pub fn verify(&self, msg: &[u8], signature_b58: &str) -> Result<()> {
        // 64 bytes are at most 88 base58 characters; refuse anything much
        // longer before doing quadratic work on it.
        if signature_b58.len() > 100 {
            return Err(Error::Integrity(format!(
                "signature is {} characters long; a base58 Ed25519 signature has at most 88",
                signature_b58.len()
            )));
        }
        let raw = base58::decode(signature_b58)
            .map_err(|e| Error::Integrity(format!("signature is not base58: {e}")))?;
        let sig = ed25519_compact::Signature::from_slice(&raw).map_err(|_| {
            Error::Integrity(format!(
                "signature decodes to {} bytes, an Ed25519 signature has 64",
                raw.len()
            ))
        })?;
        ed25519_compact::PublicKey::new(self.0)
            .verify(msg, &sig)
            .map_err(|e| {
                Error::Integrity(format!(
                    "signature does not verify with public key {} ({e}): the message or signature \
                     was changed, or it was signed by another key",
                    self.base58()
                ))
            })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.base58())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base58())
    }
}

/// An Ed25519 key pair: the agent's signing key.
///
/// `Debug` prints the public key and `[redacted]`; the private half leaves
/// the type only through [`KeyPair::private_pem`]. The secret bytes are
/// overwritten when the pair is dropped.
#[derive(Clone)]
pub struct KeyPair {
    inner: ed25519_compact::KeyPair,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public().base58())
            .field("private", &format_args!("[redacted]"))
            .finish()
    }
}

impl KeyPair {
    /// A new random key pair (operating system randomness).
    pub fn generate() -> KeyPair {
        KeyPair {
            inner: ed25519_compact::KeyPair::generate(),
        }
    }

    /// The key pair of a 32-byte private key (RFC 8032 seed).
    ///
    /// Fails with [`Error::InvalidKey`] for the all-zero seed, which is never
    /// the output of a random generator and is refused as a corrupt key.
    pub(crate) fn from_seed(seed: [u8; 32]) -> Result<KeyPair> {
        ed25519_compact::KeyPair::try_from_seed(ed25519_compact::Seed::new(seed))
            .map(|inner| KeyPair { inner })
            .map_err(|_| {
                Error::InvalidKey(
                    "the private key is all zeros: the key file is blank or corrupt".to_string(),
                )
            })
    }

    /// Read a `PRIVATE KEY` PEM (PKCS#8 v1 or v2) holding an Ed25519 key.
    ///
    /// A PKCS#8 v2 key carries its public key too; if that does not belong to
    /// the private key the result is [`Error::Integrity`].
    pub fn from_pem(private_pem: &str) -> Result<KeyPair> {
        let key = pem::decode_private_key(private_pem)?;
        let pair = KeyPair::from_seed(key.seed)?;
        if let Some(stored) = key.public {
            if stored != *pair.inner.pk {
                return Err(Error::Integrity(format!(
                    "the private key PEM (PKCS#8 v2) carries public key {} but its private key \
                     belongs to public key {}: the file is corrupt or was assembled from two keys",
                    base58::encode(&stored),
                    pair.public().base58()
                )));
            }
        }
        Ok(pair)
    }

    /// Read a private key PEM and the public key PEM stored next to it, and
    /// check that they belong together ([`Error::Integrity`] naming both
    /// public keys otherwise).
    pub(crate) fn from_pems(private_pem: &str, public_pem: &str) -> Result<KeyPair> {
        let pair = KeyPair::from_pem(private_pem)?;
        let public = PublicKey::from_pem(public_pem)?;
        if public != pair.public() {
            return Err(Error::Integrity(format!(
                "the public key PEM holds {} but the private key belongs to {}: the two files \
                 are from different key pairs; keep the private key and regenerate the public \
                 one with `openssl pkey -in private.pem -pubout -out public.pem`",
                public.base58(),
                pair.public().base58()
            )));
        }
        Ok(pair)
    }

    /// `PRIVATE KEY` PEM (PKCS#8 v1), byte-identical to what
    /// `openssl genpkey -algorithm ed25519` writes.
    pub fn private_pem(&self) -> SecretString {
        pem::encode_private_key(&self.inner.sk.seed())
    }

    /// `PUBLIC KEY` PEM (SubjectPublicKeyInfo), byte-identical to
    /// `openssl pkey -pubout`.
    pub fn public_pem(&self) -> String {
        self.public().pem()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.inner.pk)
    }

    /// Sign `msg` (deterministic Ed25519, RFC 8032) and return base58 of the
    /// 64-byte signature.
    pub fn sign(&self, msg: &[u8]) -> String {
        base58::encode(self.inner.sk.sign(msg, None).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::random::random_secret_urlsafe;

    /// RFC 8032 section 7.1, test 1 (empty message).
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn rfc_pair() -> KeyPair {
        KeyPair::from_seed(unhex(RFC8032_SEED).try_into().unwrap()).unwrap()
    }

    #[test]
    fn rfc8032_vector() {
        let kp = rfc_pair();
        assert_eq!(kp.public().as_bytes().to_vec(), unhex(RFC8032_PUBLIC));
        let sig = kp.sign(b"");
        assert_eq!(base58::decode(&sig).unwrap(), unhex(RFC8032_SIG));
        kp.public().verify(b"", &sig).unwrap();
    }

    #[test]
    fn pem_round_trip() {
        let kp = KeyPair::generate();
        let back = KeyPair::from_pems(kp.private_pem().expose(), &kp.public_pem()).unwrap();
        assert_eq!(back.public(), kp.public());
        assert_eq!(back.private_pem(), kp.private_pem());
        assert_eq!(PublicKey::from_pem(&kp.public_pem()).unwrap(), kp.public());
        assert_eq!(
            PublicKey::from_base58(&kp.public().base58()).unwrap(),
            kp.public()
        );
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let kp = rfc_pair();
        let dbg = format!("{kp:?}");
        assert!(
            dbg.contains("[redacted]") && dbg.contains(&kp.public().base58()),
            "{dbg}"
        );
        let pem = kp.private_pem();
        let body = pem.expose().lines().nth(1).unwrap().to_string();
        assert!(!dbg.contains(&body));
        assert_eq!(format!("{pem:?}"), "[redacted]");
        assert!(!dbg.contains(&base58::encode(&unhex(RFC8032_SEED))));
    }

    #[test]
    fn mismatched_pair_is_an_integrity_error_naming_both_keys() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        match KeyPair::from_pems(a.private_pem().expose(), &b.public_pem()) {
            Err(Error::Integrity(m)) => {
                assert!(
                    m.contains(&a.public().base58()) && m.contains(&b.public().base58()),
                    "{m}"
                );
            }
            other => panic!("expected Integrity, got {other:?}"),
        }
    }

    #[test]
    fn pkcs8_v2_public_key_must_match() {
        let kp = rfc_pair();
        let build = |public: &[u8]| {
            let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01];
            der.extend_from_slice(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
            der.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
            der.extend_from_slice(&unhex(RFC8032_SEED));
            der.extend_from_slice(&[0x81, 0x21, 0x00]);
            der.extend_from_slice(public);
            pem::encode("PRIVATE KEY", &der)
        };
        let good = KeyPair::from_pem(&build(kp.public().as_bytes())).unwrap();
        assert_eq!(good.public(), kp.public());
        let other = KeyPair::generate();
        match KeyPair::from_pem(&build(other.public().as_bytes())) {
            Err(Error::Integrity(m)) => {
                assert!(
                    m.contains(&other.public().base58()) && m.contains(&kp.public().base58()),
                    "{m}"
                )
            }
            r => panic!("expected Integrity, got {r:?}"),
        }
    }

    #[test]
    fn all_zero_seed_is_refused_not_a_panic() {
        assert!(matches!(
            KeyPair::from_seed([0; 32]),
            Err(Error::InvalidKey(_))
        ));
        let pem = pem::encode_private_key(&[0; 32]);
        assert!(matches!(
            KeyPair::from_pem(pem.expose()),
            Err(Error::InvalidKey(_))
        ));
    }

    #[test]
    fn bad_signatures_are_integrity_errors() {
        let kp = rfc_pair();
        let sig = kp.sign(b"hello");
        let public = kp.public();
        public.verify(b"hello", &sig).unwrap();
        for (msg, s) in [
            (&b"hellO"[..], sig.clone()),
            (b"hello", KeyPair::generate().sign(b"hello")),
            (b"hello", "0OIl".to_string()),
            (b"hello", base58::encode(&[1u8; 63])),
            (b"hello", "1".repeat(500)),
            (b"hello", String::new()),
        ] {
            assert!(
                matches!(public.verify(msg, &s), Err(Error::Integrity(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn bad_public_keys_are_rejected() {
        assert!(PublicKey::from_base58("abc").is_err());
        assert!(PublicKey::from_base58("0OIl").is_err());
        assert!(PublicKey::from_base58(&"z".repeat(10_000)).is_err());
        // The identity point has small order.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert!(PublicKey::from_base58(&base58::encode(&weak)).is_err());
    }

    #[test]
    fn random_secrets() {
        let a = random_secret_urlsafe(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret_urlsafe(32));
        assert_eq!(random_secret_urlsafe(0), "");
        assert_eq!(random_secret_urlsafe(100).len(), 134);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
