//! PEM armour and the DER structures of Ed25519 keys.
//!
//! Written, byte for byte as OpenSSL 3 and Python `cryptography` write them:
//!
//! - `PRIVATE KEY`: PKCS#8 v1 (RFC 5208 / RFC 8410), 48 bytes of DER,
//!   `302e020100300506032b657004220420` followed by the 32-byte seed;
//! - `PUBLIC KEY`: SubjectPublicKeyInfo, 44 bytes of DER,
//!   `302a300506032b6570032100` followed by the 32-byte public key;
//! - base64 in lines of 64 characters, `\n` line ends, a final newline.
//!
//! Read: the same, plus PKCS#8 v2 (OneAsymmetricKey, RFC 5958) with its
//! optional public key, CRLF line ends, trailing whitespace and blank lines
//! around the block. The DER is walked with a small bounds-checked reader, so
//! a key of another type is recognised and named instead of being reported as
//! garbage. Every failure is an [`Error::InvalidKey`] that says what was
//! found and what to do; none of them quotes key material.

use std::fmt;

use crate::secret_string::{zeroize_bytes, zeroize_string};
use crate::util::base64;
use crate::{Error, Result, SecretString};

/// PEM label of an unencrypted PKCS#8 private key.
pub const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
/// PEM label of a SubjectPublicKeyInfo public key.
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";
/// PEM label of a password-protected PKCS#8 private key (not supported).
pub const ENCRYPTED_PRIVATE_KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The Ed25519 algorithm OID, 1.3.101.112 (RFC 8410).
pub const ED25519_OID: &str = "1.3.101.112";

/// DER of a PKCS#8 v1 Ed25519 private key, up to the 32-byte seed.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER of an Ed25519 SubjectPublicKeyInfo, up to the 32-byte public key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// Content octets of the Ed25519 OID.
const ED25519_OID_BYTES: [u8; 3] = [0x2b, 0x65, 0x70];

/// Hint appended to errors about keys of the wrong kind.
const GENERATE_HINT: &str =
    "vaultid needs an Ed25519 key; create one with `openssl genpkey -algorithm ed25519 -out private.pem`";

// DER tags used here.
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_ATTRIBUTES: u8 = 0xa0; // [0] IMPLICIT, constructed
const TAG_PUBLIC_KEY: u8 = 0x81; // [1] IMPLICIT BIT STRING, primitive
const TAG_PUBLIC_KEY_EXPLICIT: u8 = 0xa1; // [1] wrapping a BIT STRING

/// One decoded PEM block: its label and the DER it carries.
///
/// The DER is overwritten with zeros on drop, and `Debug` shows only its
/// length: a block may hold a private key.
pub struct Block {
    /// The label between `-----BEGIN ` and `-----`, e.g. `PRIVATE KEY`.
    pub label: String,
    /// The decoded body.
    pub der: Vec<u8>,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("der", &format_args!("[{} bytes]", self.der.len()))
            .finish()
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        zeroize_bytes(&mut self.der);
    }
}

/// An Ed25519 private key as read from PKCS#8: the 32-byte seed and, for v2
/// (OneAsymmetricKey), the public key stored next to it.
///
/// The caller checks that `public` belongs to `seed` (see
/// [`KeyPair::from_pem`](super::keys::KeyPair::from_pem)). The seed is
/// overwritten with zeros on drop and never shown by `Debug`.
pub struct Ed25519PrivateKey {
    /// The 32-byte private key (RFC 8032 seed).
    pub seed: [u8; 32],
    /// The public key carried by a PKCS#8 v2 structure, if any.
    pub public: Option<[u8; 32]>,
    /// The PKCS#8 version field: 0 for v1, 1 for v2.
    pub version: u8,
}

impl fmt::Debug for Ed25519PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519PrivateKey")
            .field("seed", &format_args!("[redacted]"))
            .field("public", &self.public.map(|p| super::base58::encode(&p)))
            .field("version", &self.version)
            .finish()
    }
}

impl Drop for Ed25519PrivateKey {
    fn drop(&mut self) {
        crate::sys::zeroize(&mut self.seed);
    }
}

/// Wrap DER in PEM armour: `-----BEGIN {label}-----`, base64 in lines of 64
/// characters, `-----END {label}-----`, each line ending in `\n`.
///
/// This is exactly the layout OpenSSL 3 writes.
pub fn encode(label: &str, der: &[u8]) -> String {
    let mut body = base64::encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 32);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        // base64 is ASCII, so any byte index is a char boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    zeroize_string(&mut body);
    out
}

/// Read one PEM block.
///
/// Accepts `\n` or `\r\n` line ends, whitespace at the ends of lines, blank
/// lines before and after the block, and body lines of any length. Rejects
/// anything else around the block, a missing or mismatched END line, PEM
/// headers, an empty body and bad base64, saying which line is at fault.
/// Encrypted legacy PEM (`Proc-Type: 4,ENCRYPTED`) gets its own message.
pub fn decode(text: &str) -> Result<Block> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim()));

    // BEGIN line, after optional blank lines.
    let (begin_no, begin) = loop {
        match lines.next() {
            None => {
                return Err(Error::InvalidKey(
                    "no `-----BEGIN ...-----` line found: the text is not PEM (empty file?)"
                        .to_string(),
                ))
            }
            Some((_, "")) => continue,
            Some(found) => break found,
        }
    };
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| {
            Error::InvalidKey(format!(
                "line {begin_no} is not a `-----BEGIN <label>-----` line: the text is not PEM"
            ))
        })?;
    if label.is_empty()
        || !label
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'-')
    {
        return Err(Error::InvalidKey(format!(
            "line {begin_no}: PEM label {label:?} is not printable ASCII"
        )));
    }

    // Body up to the END line; remember where each line starts in `body`
    // so that base64 errors can name the line.
    let end_line = format!("-----END {label}-----");
    let mut body = String::new();
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (offset in body, line number)
    let mut found_end = false;
    for (no, line) in lines.by_ref() {
        if line.starts_with("-----") {
            if line == end_line {
                found_end = true;
                break;
            }
            zeroize_string(&mut body);
            return Err(Error::InvalidKey(format!(
                "line {no}: expected `{end_line}` to close the block opened on line {begin_no}"
            )));
        }
        if let Some((name, value)) = line.split_once(':') {
            zeroize_string(&mut body);
            let name = name.trim();
            if name.eq_ignore_ascii_case("Proc-Type") && value.contains("ENCRYPTED") {
                return Err(encrypted_error());
            }
            return Err(Error::InvalidKey(format!(
                "line {no}: PEM header {name:?} is not supported: vaultid reads plain PKCS#8 `PRIVATE KEY` and `PUBLIC KEY` blocks"
            )));
        }
        if !line.is_empty() {
            starts.push((body.len(), no));
            body.push_str(line);
        }
    }
    if !found_end {
        zeroize_string(&mut body);
        return Err(Error::InvalidKey(format!(
            "no `{end_line}` line: the PEM block opened on line {begin_no} is truncated"
        )));
    }
    if let Some((no, _)) = lines.find(|(_, l)| !l.is_empty()) {
        zeroize_string(&mut body);
        return Err(Error::InvalidKey(format!(
            "line {no}: unexpected text after `{end_line}`: put exactly one PEM block in the file"
        )));
    }
    if body.is_empty() {
        return Err(Error::InvalidKey(format!(
            "the {label} PEM block has an empty body"
        )));
    }

    let decoded = base64::decode(&body);
    zeroize_string(&mut body);
    let der = decoded.map_err(|e| {
        let offset = match e {
            base64::DecodeError::InvalidByte { offset }
            | base64::DecodeError::NonCanonical { offset } => offset,
            base64::DecodeError::InvalidLength { length } => length.saturating_sub(1),
        };
        let line = starts
            .iter()
            .rev()
            .find(|(start, _)| *start <= offset)
            .map_or(begin_no + 1, |&(_, no)| no);
        Error::InvalidKey(format!(
            "the {label} PEM body is not valid base64 (line {line}): {e}; the file is corrupt or was edited"
        ))
    })?;
    Ok(Block {
        label: label.to_string(),
        der,
    })
}

fn encrypted_error() -> Error {
    Error::InvalidKey(
        "the private key is encrypted (password-protected); vaultid needs it decrypted first, \
         e.g. `openssl pkey -in private.pem -out plain.pem` (asks for the password), \
         then protect plain.pem with file permissions (0600)"
            .to_string(),
    )
}

/// PEM of an Ed25519 private key (`PRIVATE KEY`, PKCS#8 v1), byte-identical
/// to `openssl genpkey -algorithm ed25519`.
pub fn encode_private_key(seed: &[u8; 32]) -> SecretString {
    let mut der = Vec::with_capacity(PKCS8_V1_PREFIX.len() + 32);
    der.extend_from_slice(&PKCS8_V1_PREFIX);
    der.extend_from_slice(seed);
    let pem = encode(PRIVATE_KEY_LABEL, &der);
    zeroize_bytes(&mut der);
    SecretString::new(pem)
}

/// PEM of an Ed25519 public key (`PUBLIC KEY`, SubjectPublicKeyInfo),
/// byte-identical to `openssl pkey -pubout`.
pub fn encode_public_key(public: &[u8; 32]) -> String {
    let mut der = Vec::with_capacity(SPKI_PREFIX.len() + 32);
    der.extend_from_slice(&SPKI_PREFIX);
    der.extend_from_slice(public);
    encode(PUBLIC_KEY_LABEL, &der)
}

/// Read an Ed25519 private key from PEM (`PRIVATE KEY`, PKCS#8 v1 or v2).
///
/// Other labels get a specific error: encrypted keys, public keys, and
/// traditional RSA/EC/OpenSSH formats.
pub fn decode_private_key(text: &str) -> Result<Ed25519PrivateKey> {
    let block = decode(text)?;
    match block.label.as_str() {
        PRIVATE_KEY_LABEL => parse_private_key_der(&block.der),
        ENCRYPTED_PRIVATE_KEY_LABEL => Err(encrypted_error()),
        PUBLIC_KEY_LABEL => Err(Error::InvalidKey(
            "expected a private key (`-----BEGIN PRIVATE KEY-----`) but found a public key (`PUBLIC KEY`): \
             check that the private and public key files are not swapped"
                .to_string(),
        )),
        other => Err(Error::InvalidKey(format!(
            "unsupported PEM label {other:?}{}: expected `PRIVATE KEY` (PKCS#8); {GENERATE_HINT}",
            describe_label(other)
        ))),
    }
}

/// Read an Ed25519 public key from PEM (`PUBLIC KEY`, SubjectPublicKeyInfo).
pub fn decode_public_key(text: &str) -> Result<[u8; 32]> {
    let block = decode(text)?;
    match block.label.as_str() {
        PUBLIC_KEY_LABEL => parse_public_key_der(&block.der),
        PRIVATE_KEY_LABEL | ENCRYPTED_PRIVATE_KEY_LABEL => Err(Error::InvalidKey(format!(
            "expected a public key (`-----BEGIN PUBLIC KEY-----`) but found {:?}: check that the \
             private and public key files are not swapped; derive the public key with \
             `openssl pkey -in private.pem -pubout -out public.pem`",
            block.label
        ))),
        other => Err(Error::InvalidKey(format!(
            "unsupported PEM label {other:?}{}: expected `PUBLIC KEY` (SubjectPublicKeyInfo)",
            describe_label(other)
        ))),
    }
}

fn describe_label(label: &str) -> &'static str {
    match label {
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => " (a traditional-format RSA key)",
        "EC PRIVATE KEY" => " (a traditional-format EC key)",
        "DSA PRIVATE KEY" => " (a traditional-format DSA key)",
        "OPENSSH PRIVATE KEY" => " (an OpenSSH key)",
        "CERTIFICATE" => " (an X.509 certificate, not a key)",
        _ => "",
    }
}

/// Read an Ed25519 private key from PKCS#8 DER (v1 `PrivateKeyInfo` or v2
/// `OneAsymmetricKey`).
pub fn parse_private_key_der(der: &[u8]) -> Result<Ed25519PrivateKey> {
    let ctx = "private key (PKCS#8)";
    let mut outer = Reader::new(der);
    let mut info = Reader::new(outer.expect(TAG_SEQUENCE, "PrivateKeyInfo", ctx)?);
    outer.finish(ctx)?;

    let version = match info.expect(TAG_INTEGER, "version", ctx)? {
        [0] => 0u8,
        [1] => 1u8,
        other => {
            return Err(Error::InvalidKey(format!(
                "{ctx}: unsupported version field {} (expected 0 for v1 or 1 for v2)",
                hex(other)
            )))
        }
    };
    check_algorithm(info.expect(TAG_SEQUENCE, "AlgorithmIdentifier", ctx)?, ctx)?;
    let wrapped = info.expect(TAG_OCTET_STRING, "privateKey", ctx)?;
    let mut inner = Reader::new(wrapped);
    let raw = inner.expect(TAG_OCTET_STRING, "CurvePrivateKey", ctx)?;
    inner.finish(ctx)?;
    let seed: [u8; 32] = raw.try_into().map_err(|_| {
        Error::InvalidKey(format!(
            "{ctx}: the Ed25519 private key is {} bytes long, expected 32",
            raw.len()
        ))
    })?;
    let mut key = Ed25519PrivateKey {
        seed,
        public: None,
        version,
    };

    if info.peek_tag() == Some(TAG_ATTRIBUTES) {
        info.read(ctx)?;
    }
    match info.peek_tag() {
        Some(TAG_PUBLIC_KEY) => {
            let bits = info.expect(TAG_PUBLIC_KEY, "publicKey", ctx)?;
            key.public = Some(bit_string_key(
                bits,
                "the public key in the PKCS#8 v2 key",
                ctx,
            )?);
        }
        Some(TAG_PUBLIC_KEY_EXPLICIT) => {
            let mut wrapper =
                Reader::new(info.expect(TAG_PUBLIC_KEY_EXPLICIT, "publicKey", ctx)?);
            let bits = wrapper.expect(TAG_BIT_STRING, "publicKey", ctx)?;
            wrapper.finish(ctx)?;
            key.public = Some(bit_string_key(
                bits,
                "the public key in the PKCS#8 v2 key",
                ctx,
            )?);
        }
        _ => {}
    }
    info.finish(ctx)?;
    Ok(key)
}

/// Read an Ed25519 public key from SubjectPublicKeyInfo DER.
pub fn parse_public_key_der(der: &[u8]) -> Result<[u8; 32]> {
    let ctx = "public key (SubjectPublicKeyInfo)";
    let mut outer = Reader::new(der);
    let mut spki = Reader::new(outer.expect(TAG_SEQUENCE, "SubjectPublicKeyInfo", ctx)?);
    outer.finish(ctx)?;
    check_algorithm(spki.expect(TAG_SEQUENCE, "AlgorithmIdentifier", ctx)?, ctx)?;
    let bits = spki.expect(TAG_BIT_STRING, "subjectPublicKey", ctx)?;
    spki.finish(ctx)?;
    bit_string_key(bits, "the Ed25519 public key", ctx)
}

/// The 32 key bytes of a BIT STRING's content (unused-bits octet first).
fn bit_string_key(bits: &[u8], what: &str, ctx: &str) -> Result<[u8; 32]> {
    match bits.split_first() {
        Some((0, key)) => key.try_into().map_err(|_| {
            Error::InvalidKey(format!(
                "{ctx}: {what} is {} bytes long, expected 32",
                key.len()
            ))
        }),
        Some((unused, _)) => Err(Error::InvalidKey(format!(
            "{ctx}: {what} is a BIT STRING with {unused} unused bits, expected whole bytes"
        ))),
        None => Err(Error::InvalidKey(format!("{ctx}: {what} is empty"))),
    }
}

/// Check that an AlgorithmIdentifier's content names Ed25519, without
/// parameters; otherwise name the algorithm found.
fn check_algorithm(content: &[u8], ctx: &str) -> Result<()> {
    let mut alg = Reader::new(content);
    let oid = alg.expect(TAG_OID, "algorithm OID", ctx)?;
    if oid != ED25519_OID_BYTES {
        let dotted = oid_to_string(oid).unwrap_or_else(|| format!("unparsable OID {}", hex(oid)));
        let mut found = match oid_name(&dotted) {
            Some(name) => format!("{name} ({dotted})"),
            None => format!("an algorithm with OID {dotted}"),
        };
        // For EC keys, name the curve from the parameters.
        if alg.peek_tag() == Some(TAG_OID) {
            if let Ok(param) = alg.expect(TAG_OID, "parameters", ctx) {
                if let Some(curve) = oid_to_string(param) {
                    match oid_name(&curve) {
                        Some(name) => found.push_str(&format!(" on curve {name} ({curve})")),
                        None => found.push_str(&format!(" with parameter {curve}")),
                    }
                }
            }
        }
        return Err(Error::InvalidKey(format!(
            "{ctx}: the key is {found}, not Ed25519 ({ED25519_OID}); {GENERATE_HINT}"
        )));
    }
    if !alg.is_empty() {
        return Err(Error::InvalidKey(format!(
            "{ctx}: the Ed25519 AlgorithmIdentifier carries parameters, which RFC 8410 forbids"
        )));
    }
    Ok(())
}

/// Names of algorithm and curve OIDs worth recognising in error messages.
fn oid_name(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "1.2.840.113549.1.1.1" => "rsaEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        _ => return None,
    })
}

/// Dotted form of an OID's content octets, `None` when malformed.
pub(crate) fn oid_to_string(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut in_arc = false;
    for &b in bytes {
        if !in_arc && b == 0x80 {
            return None; // non-minimal encoding
        }
        if value > (u64::MAX >> 7) {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc {
        return None;
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in rest {
        out.push_str(&format!(".{arc}"));
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A minimal DER reader: single-byte tags, definite lengths, every read
/// bounds-checked.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Read one element: its tag and content.
    fn read(&mut self, ctx: &str) -> Result<(u8, &'a [u8])> {
        let malformed = |what: String| Error::InvalidKey(format!("{ctx}: malformed DER: {what}"));
        let (&tag, rest) = self
            .data
            .split_first()
            .ok_or_else(|| malformed("unexpected end of data".to_string()))?;
        if tag & 0x1f == 0x1f {
            return Err(malformed(format!(
                "multi-byte tag 0x{tag:02x} is not supported"
            )));
        }
        let (&first, mut rest) = rest
            .split_first()
            .ok_or_else(|| malformed("missing length".to_string()))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(malformed("indefinite length is not allowed".to_string()));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 || n > rest.len() {
                return Err(malformed(format!("length field of {n} bytes is invalid")));
            }
            let (len_bytes, tail) = rest.split_at(n);
            rest = tail;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if len > rest.len() {
            return Err(malformed(format!(
                "element with tag 0x{tag:02x} claims {len} bytes but only {} remain (truncated?)",
                rest.len()
            )));
        }
        let (content, tail) = rest.split_at(len);
        self.data = tail;
        Ok((tag, content))
    }

    /// Read one element that must have `tag`; `what` names it in errors.
    fn expect(&mut self, tag: u8, what: &str, ctx: &str) -> Result<&'a [u8]> {
        match self.peek_tag() {
            Some(t) if t == tag => Ok(self.read(ctx)?.1),
            Some(t) => Err(Error::InvalidKey(format!(
                "{ctx}: malformed DER: expected {what} (tag 0x{tag:02x}), found tag 0x{t:02x}"
            ))),
            None => Err(Error::InvalidKey(format!(
                "{ctx}: malformed DER: {what} is missing (data ends early)"
            ))),
        }
    }

    /// Fail if anything is left.
    fn finish(&self, ctx: &str) -> Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidKey(format!(
                "{ctx}: malformed DER: {} unexpected trailing bytes",
                self.data.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl genpkey -algorithm ed25519`.
    pub(crate) const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMhieSjFkbRTbiNqb5perhccds6UD+0WEr6H2enJIoKH
-----END PRIVATE KEY-----
";
    const OPENSSL_ED25519_SEED: &str =
        "c8627928c591b4536e236a6f9a5eae171c76ce940fed1612be87d9e9c9228287";

    /// `openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024`.
    const OPENSSL_RSA: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAKKNCmpU/2TTwda4
orIaeV3LaLiLgKtO5oJ2ALCj71TOpZPCQncM5/dqHGbtaDqv3GELQfeNoIb6E/Dp
QZHCy/0etxyTzVKMFJq/D03Hw3UvDD7XMLmlUKiohmKjU5LplJYlW6/wPKkJrBKZ
u6LP+GmxLlnXfAqecLSrHfbPhZPhAgMBAAECgYACOtMQwFe8h1caXfAFZ22QxtCJ
74f1UaDB22KJCcansCn/S+PjhC7Oaws2sj0CyRTJ1AC0p6GzGE0buednW3e23JLO
OPW8FYL/GzvdIM0NboJ2Ea3e67w+siysHvV+S68KiNVXpWD9xnmFORJROkymtTBY
fq2FAi3tC17VWhoXEQJBANFDFZcr/LpIDvEAlAkX9IIY2GYpjyBw3zPXpwIa3k0B
KX0NXuTuZn2VcTDcSaEZnqPENn5a+BLulkOlFTJLj00CQQDG2ys332aM3SvGYKI0
gm5KdDtnFBgfKtdKJfauJUTvWGqzKXIn4pOSRNkN4UGoNn9aAAMp2tNp7NchK8pI
PfTlAkAkfXIyXjU/tnkEhXlK7KZyWSrDBdQzb/s76wrwTwccnmtBpyc4/Gla1Mhc
IM2mDfWf0QM/nVVM19XUDeFYV9yxAkAIMg407ksesRrVwTPOMDX1cZblJ6na1vwq
fSgOg1C1AJLdMW8X/7mPRLEhZlA7a4uSHQAEYJVn/y/amSBsG8mVAkEAoGuiZ8T7
pP+z/ZQzbYpieh8NVayXK7cDQKd1i8QOKxr0JU5j0/ShvCFwopR/YqhroEctjhKd
wXwn/Wz2olDD7Q==
-----END PRIVATE KEY-----
";

    /// `openssl pkey -in rsa.pem -traditional`, first lines only: the label
    /// is rejected before the body is decoded.
    const OPENSSL_RSA_TRADITIONAL: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQCijQpqVP9k08HWuKKyGnldy2i4i4CrTuaCdgCwo+9UzqWTwkJ3
-----END RSA PRIVATE KEY-----
";

    /// `openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256`.
    const OPENSSL_EC: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqdC3eB6zlVFUo2F+
ZO+z9Pmyzgt4Wc8o96WLAl7pAzihRANCAATfHR8+/ajnbJh/I+BhaWdow7cDpjQW
ru1deyKQtJuB9RZTe4L7/Z67kj63P/GxzGBdo2fq6DF1p7Z95yDGObHb
-----END PRIVATE KEY-----
";
    /// Its public key.
    const OPENSSL_EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3x0fPv2o52yYfyPgYWlnaMO3A6Y0
Fq7tXXsikLSbgfUWU3uC+/2eu5I+tz/xscxgXaNn6ugxdae2fecgxjmx2w==
-----END PUBLIC KEY-----
";

    /// `openssl genpkey -algorithm x25519` and its public key.
    const OPENSSL_X25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIDjve2CsBCtD2WpocUjYeV6Zof23TGiKcX9zTBli4hNX
-----END PRIVATE KEY-----
";
    const OPENSSL_X25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEAxpjzIQyAJ3cDiP4iF9aW9wlTEnlRHO1+LgEaqTgFxRM=
-----END PUBLIC KEY-----
";

    /// `openssl genpkey -algorithm ed448`.
    const OPENSSL_ED448: &str = "-----BEGIN PRIVATE KEY-----
MEcCAQAwBQYDK2VxBDsEOUsJXL1iCIU5J0N3qOzVo+5O/QuKRvjQ9ooJMCYcybYW
GvZWM9z4zLloGkn5Fv9dr3fCRjxlvvwVIg==
-----END PRIVATE KEY-----
";

    /// `openssl pkey -in ed.pem -aes256 -passout pass:test`.
    const OPENSSL_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiiXESD9UXEJAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEN0RXT95sCMLgiHKfo7SftUEQP38
wJ/CHT2S8+c0VZIx7IycylNQ7ZG0Vh02feVNj0t33xdat9qMfLaF2FLW/TyPm/7i
O04L72HKQXqcByajZwo=
-----END ENCRYPTED PRIVATE KEY-----
";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn err_text(r: Result<impl fmt::Debug>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(Error::InvalidKey(m)) => m,
            Err(other) => panic!("expected InvalidKey, got {other:?}"),
        }
    }

    #[test]
    fn reads_openssl_private_key() {
        let key = decode_private_key(OPENSSL_ED25519).unwrap();
        assert_eq!(key.seed.to_vec(), unhex(OPENSSL_ED25519_SEED));
        assert_eq!(key.version, 0);
        assert!(key.public.is_none());
        let dbg = format!("{key:?}");
        assert!(dbg.contains("[redacted]") && !dbg.contains("200"), "{dbg}");
    }

    #[test]
    fn writes_openssl_layout() {
        let seed: [u8; 32] = unhex(OPENSSL_ED25519_SEED).try_into().unwrap();
        assert_eq!(encode_private_key(&seed).expose(), OPENSSL_ED25519);
        let public = decode_public_key(
            OPENSSL_X25519_PUBLIC
                .replace("MCowBQYDK2Vu", "MCowBQYDK2Vw")
                .as_str(),
        )
        .unwrap();
        assert_eq!(
            encode_public_key(&public),
            OPENSSL_X25519_PUBLIC.replace("MCowBQYDK2Vu", "MCowBQYDK2Vw")
        );
    }

    #[test]
    fn wraps_long_bodies_at_64_columns() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = encode("TEST", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN TEST-----");
        assert!(lines[1..lines.len() - 2].iter().all(|l| l.len() == 64));
        assert!(lines[lines.len() - 2].len() <= 64);
        assert!(pem.ends_with("-----END TEST-----\n"));
        assert_eq!(decode(&pem).unwrap().der, der);
    }

    #[test]
    fn tolerates_crlf_whitespace_and_blank_lines() {
        let crlf = format!(
            "\r\n\n  {}\r\n\r\n",
            OPENSSL_ED25519.replace('\n', " \t\r\n")
        );
        let key = decode_private_key(&crlf).unwrap();
        assert_eq!(key.seed.to_vec(), unhex(OPENSSL_ED25519_SEED));
        let split = OPENSSL_ED25519.replace("MC4CAQAw", "MC4CAQAw\n");
        assert!(decode_private_key(&split).is_ok());
    }

    /// The layout of `ring`'s `Ed25519KeyPair::generate_pkcs8`.
    #[test]
    fn reads_pkcs8_v2_with_public_key() {
        let seed = unhex(OPENSSL_ED25519_SEED);
        let public = [7u8; 32];
        let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01];
        der.extend_from_slice(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        der.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
        der.extend_from_slice(&seed);
        der.extend_from_slice(&[0x81, 0x21, 0x00]);
        der.extend_from_slice(&public);
        let key = parse_private_key_der(&der).unwrap();
        assert_eq!(key.version, 1);
        assert_eq!(key.public, Some(public));
        let pem = encode(PRIVATE_KEY_LABEL, &der);
        assert_eq!(decode_private_key(&pem).unwrap().public, Some(public));

        // Also accepted: the public key wrapped as `[1] { BIT STRING }`.
        let mut explicit = der[..48].to_vec();
        explicit[1] = 0x53;
        explicit.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
        explicit.extend_from_slice(&public);
        assert_eq!(
            parse_private_key_der(&explicit).unwrap().public,
            Some(public)
        );
        // A public key of the wrong length is named.
        let mut short = der[..48].to_vec();
        short[1] = 0x50;
        short.extend_from_slice(&[0x81, 0x20, 0x00]);
        short.extend_from_slice(&public[..31]);
        let msg = err_text(parse_private_key_der(&short));
        assert!(msg.contains("31 bytes long, expected 32"), "{msg}");
    }

    #[test]
    fn rejects_encrypted_keys() {
        let msg = err_text(decode_private_key(OPENSSL_ENCRYPTED));
        assert!(
            msg.contains("encrypted") && msg.contains("openssl pkey"),
            "{msg}"
        );
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        let msg = err_text(decode_private_key(legacy));
        assert!(msg.contains("encrypted"), "{msg}");
    }

    #[test]
    fn names_other_algorithms() {
        let cases = [
            (OPENSSL_RSA, "rsaEncryption (1.2.840.113549.1.1.1)"),
            (
                OPENSSL_EC,
                "id-ecPublicKey (1.2.840.10045.2.1) on curve P-256",
            ),
            (OPENSSL_X25519, "X25519 (1.3.101.110)"),
            (OPENSSL_ED448, "Ed448 (1.3.101.113)"),
        ];
        for (pem, name) in cases {
            let msg = err_text(decode_private_key(pem));
            assert!(
                msg.contains(name) && msg.contains("genpkey -algorithm ed25519"),
                "{msg}"
            );
        }
        let msg = err_text(decode_public_key(OPENSSL_EC_PUBLIC));
        assert!(msg.contains("id-ecPublicKey"), "{msg}");
        let msg = err_text(decode_public_key(OPENSSL_X25519_PUBLIC));
        assert!(msg.contains("X25519 (1.3.101.110)"), "{msg}");
    }

    #[test]
    fn names_unknown_labels() {
        let msg = err_text(decode_private_key(OPENSSL_RSA_TRADITIONAL));
        assert!(
            msg.contains("\"RSA PRIVATE KEY\"") && msg.contains("RSA"),
            "{msg}"
        );
        let msg = err_text(decode_private_key(
            "-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----\n",
        ));
        assert!(msg.contains("\"FOO BAR\""), "{msg}");
        let msg = err_text(decode_private_key(OPENSSL_X25519_PUBLIC));
        assert!(msg.contains("public key"), "{msg}");
        let msg = err_text(decode_public_key(OPENSSL_ED25519));
        assert!(msg.contains("-pubout"), "{msg}");
    }

    #[test]
    fn rejects_bad_base64_naming_the_line() {
        let bad = OPENSSL_ED25519.replace("MC4CAQAw", "MC4C*QAw");
        let msg = err_text(decode_private_key(&bad));
        assert!(msg.contains("not valid base64 (line 2)"), "{msg}");
        let short = OPENSSL_ED25519.replace("IoKH", "IoK");
        let msg = err_text(decode_private_key(&short));
        assert!(msg.contains("base64"), "{msg}");
    }

    #[test]
    fn rejects_wrong_lengths() {
        // A 31-byte seed.
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der[1] = 0x2d;
        der[13] = 0x21;
        der[15] = 0x1f;
        der.extend_from_slice(&[1u8; 31]);
        let msg = err_text(parse_private_key_der(&der));
        assert!(msg.contains("31 bytes long, expected 32"), "{msg}");
        // A 33-byte public key.
        let mut der = SPKI_PREFIX.to_vec();
        der[1] = 0x2b;
        der[10] = 0x22;
        der.extend_from_slice(&[1u8; 33]);
        let msg = err_text(parse_public_key_der(&der));
        assert!(msg.contains("33 bytes long, expected 32"), "{msg}");
        // Truncated DER.
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&[1u8; 20]);
        let msg = err_text(parse_public_key_der(&der));
        assert!(msg.contains("truncated"), "{msg}");
        // Trailing bytes.
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&[1u8; 33]);
        let msg = err_text(parse_public_key_der(&der));
        assert!(msg.contains("trailing"), "{msg}");
    }

    #[test]
    fn rejects_malformed_armour() {
        for (text, needle) in [
            ("", "not PEM"),
            ("hello", "not PEM"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n", "truncated"),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "expected `-----END PRIVATE KEY-----`",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
                "empty body",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\nmore\n",
                "line 4: unexpected text",
            ),
            ("-----BEGIN -----\nAAAA\n-----END -----\n", "not printable"),
        ] {
            let msg = err_text(decode(text));
            assert!(msg.contains(needle), "{text:?}: {msg}");
        }
    }

    #[test]
    fn der_reader_never_panics_on_prefixes() {
        let mut der = PKCS8_V1_PREFIX.to_vec();
        der.extend_from_slice(&[9u8; 32]);
        for len in 0..der.len() {
            assert!(parse_private_key_der(&der[..len]).is_err());
            assert!(parse_public_key_der(&der[..len]).is_err());
        }
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],
            &[0x30, 0x85, 1, 1, 1, 1, 1][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x1f, 0x00][..],
            &[0x30][..],
        ] {
            assert!(parse_private_key_der(bad).is_err());
        }
    }

    #[test]
    fn oid_strings() {
        assert_eq!(
            oid_to_string(&ED25519_OID_BYTES).as_deref(),
            Some(ED25519_OID)
        );
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]).as_deref(),
            Some("1.2.840.113549.1.1.1")
        );
        assert_eq!(oid_to_string(&[]), None);
        assert_eq!(oid_to_string(&[0x2a, 0x86]), None);
        assert_eq!(oid_to_string(&[0xff; 12]), None);
    }
}
