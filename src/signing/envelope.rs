//! The envelope itself, with no I/O: the canonical string, signing, the
//! header parser and verification. The module docs of
//! [`crate::signing`] explain the protocol.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::identity::base58;
use crate::identity::{KeyPair, PublicKey};

/// The caller's DID (must equal the OAuth2 token's `client_id`).
pub const HEADER_DID: &str = "X-DID";
/// Base58 of the 64-byte Ed25519 signature over the canonical string.
pub const HEADER_SIGNATURE: &str = "X-DID-Signature";
/// The signing time, Unix seconds, in decimal.
pub const HEADER_TIMESTAMP: &str = "X-DID-Timestamp";

/// How far a timestamp may be from the verifier's clock, either way: the
/// framework's `MAX_SIGNATURE_AGE_SECONDS`, 300 s.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Longest `X-DID-Signature` read (a 64-byte value is at most 88 base58
/// characters): base58 decoding is quadratic, so more is refused unread.
const MAX_SIGNATURE_CHARS: usize = 100;
/// Longest `X-DID-Timestamp` read.
const MAX_TIMESTAMP_CHARS: usize = 32;
/// Longest `X-DID` read.
const MAX_DID_CHARS: usize = 2048;

/// The string the framework signs, byte for byte: Python's
/// `json.dumps({"body": body, "did": did, "timestamp": timestamp},
/// sort_keys=True)`.
///
/// That is: keys in sorted order, separators `", "` and `": "`, and
/// `ensure_ascii=True` string escaping: `\"` and `\\`, `\b` `\f` `\n` `\r`
/// `\t`, every other character outside printable ASCII (`0x20..=0x7e`;
/// so `0x7f` too) as `\uXXXX` with lower-case hex, characters above
/// U+FFFF as a UTF-16 surrogate pair. `/` is not escaped. The timestamp
/// is a plain decimal integer.
///
/// ```
/// use vaultid::signing::canonical_payload;
/// assert_eq!(
///     canonical_payload("{\"a\":\"é\"}", "did:bindu:x", 1_700_000_000),
///     r#"{"body": "{\"a\":\"\u00e9\"}", "did": "did:bindu:x", "timestamp": 1700000000}"#
/// );
/// ```
pub fn canonical_payload(body: &str, did: &str, timestamp: i64) -> String {
    let mut out = String::with_capacity(body.len() + did.len() + body.len() / 8 + 48);
    out.push_str("{\"body\": \"");
    escape_into(&mut out, body);
    out.push_str("\", \"did\": \"");
    escape_into(&mut out, did);
    out.push_str("\", \"timestamp\": ");
    // Into the string itself: no temporary allocation.
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{timestamp}}}"));
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_u16_escape(out: &mut String, unit: u16) {
    let b = unit.to_be_bytes();
    let esc = [
        b'\\',
        b'u',
        HEX[usize::from(b[0] >> 4)],
        HEX[usize::from(b[0] & 15)],
        HEX[usize::from(b[1] >> 4)],
        HEX[usize::from(b[1] & 15)],
    ];
    // The six bytes are ASCII.
    out.push_str(std::str::from_utf8(&esc).unwrap_or_default());
}

/// Python's `encoder.py_encode_basestring_ascii` without the quotes.
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut run = 0; // start of the current run of bytes copied as they are
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&s[run..i]);
        if b < 0x80 {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                _ => push_u16_escape(out, u16::from(b)),
            }
            i += 1;
        } else {
            // `i` is on a character boundary: every byte before it was
            // either ASCII or a whole character.
            let c = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_u16_escape(out, *unit);
            }
            i += c.len_utf8();
        }
        run = i;
    }
    out.push_str(&s[run..]);
}

/// The three signature headers of one request.
///
/// Built by [`sign_request`], or read from a request by
/// [`SignatureHeaders::from_headers`] / [`SignatureHeaders::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureHeaders {
    /// `X-DID`: the signer's DID.
    pub did: String,
    /// `X-DID-Signature`: base58 of the 64-byte Ed25519 signature.
    pub signature: String,
    /// `X-DID-Timestamp`: Unix seconds.
    pub timestamp: i64,
}

impl SignatureHeaders {
    /// The headers from their three values.
    pub fn new(did: &str, signature: &str, timestamp: i64) -> SignatureHeaders {
        SignatureHeaders {
            did: did.to_string(),
            signature: signature.to_string(),
            timestamp,
        }
    }

    /// Read the three values as they arrive in headers. Surrounding ASCII
    /// whitespace is ignored; an empty value counts as missing (as in the
    /// framework); the timestamp must be a decimal integer (an optional
    /// sign, ASCII digits) that fits 64 bits.
    pub fn parse(
        did: &str,
        signature: &str,
        timestamp: &str,
    ) -> Result<SignatureHeaders, Rejection> {
        let (did, signature, timestamp) = (
            did.trim_matches(is_ows),
            signature.trim_matches(is_ows),
            timestamp.trim_matches(is_ows),
        );
        for (name, v) in [
            (HEADER_DID, did),
            (HEADER_SIGNATURE, signature),
            (HEADER_TIMESTAMP, timestamp),
        ] {
            if v.is_empty() {
                return Err(Rejection::MissingHeader { name });
            }
        }
        if did.len() > MAX_DID_CHARS {
            return Err(malformed(format!(
                "{HEADER_DID} is {} bytes long; the limit is {MAX_DID_CHARS}",
                did.len()
            )));
        }
        if let Some(c) = did.chars().find(|c| c.is_control()) {
            return Err(malformed(format!(
                "{HEADER_DID} holds the control character {c:?}"
            )));
        }
        Ok(SignatureHeaders {
            did: did.to_string(),
            signature: signature.to_string(),
            timestamp: parse_timestamp(timestamp)?,
        })
    }

    /// Find and read the three headers among a request's `(name, value)`
    /// pairs; names are matched without regard to case. A header given
    /// twice is refused (which one was signed would be ambiguous).
    pub fn from_headers<'a, I>(headers: I) -> Result<SignatureHeaders, Rejection>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut found: [Option<&str>; 3] = [None; 3];
        let names = [HEADER_DID, HEADER_SIGNATURE, HEADER_TIMESTAMP];
        for (name, value) in headers {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                if found[i].is_some() {
                    return Err(malformed(format!("{} is given more than once", names[i])));
                }
                found[i] = Some(value);
            }
        }
        SignatureHeaders::parse(
            found[0].unwrap_or(""),
            found[1].unwrap_or(""),
            found[2].unwrap_or(""),
        )
    }

    /// The headers as `(name, value)` pairs, in the order `X-DID`,
    /// `X-DID-Signature`, `X-DID-Timestamp`.
    pub fn to_pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_DID, self.did.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
        ]
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn malformed(detail: String) -> Rejection {
    Rejection::Malformed { detail }
}

/// `[+-]?[0-9]+`, fitting an `i64`.
fn parse_timestamp(t: &str) -> Result<i64, Rejection> {
    let bad = || {
        let shown: String = t.chars().take(MAX_TIMESTAMP_CHARS).collect();
        malformed(format!(
            "{HEADER_TIMESTAMP} {shown:?} is not a whole number of seconds since the Unix epoch"
        ))
    };
    if t.len() > MAX_TIMESTAMP_CHARS {
        return Err(bad());
    }
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    t.parse::<i64>().map_err(|_| bad())
}

pub use crate::error::Rejection;

/// The body as the framework reads it: UTF-8, or a
/// [`Rejection::Malformed`] naming the first bad byte.
pub(crate) fn body_text(body: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(body).map_err(|e| {
        malformed(format!(
            "the body is not UTF-8 (byte {} of {}); the framework decodes the body as UTF-8, so \
             it can neither sign nor verify it: send it encoded (base64, JSON)",
            e.valid_up_to(),
            body.len()
        ))
    })
}

/// The system clock, Unix seconds.
pub(crate) fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Sign `body` (the exact bytes that go on the wire) as `did` at
/// `timestamp` (Unix seconds): the three headers to send with it.
///
/// Fails with [`Rejection::Malformed`] when the body is not UTF-8: the
/// framework decodes it before verifying and could not check it.
///
/// ```
/// use vaultid::identity::KeyPair;
/// use vaultid::signing::{sign_request, verify_request, VerifyOptions};
///
/// let keys = KeyPair::generate();
/// let body = br#"{"jsonrpc":"2.0","method":"message/send","id":1}"#;
/// let headers = sign_request(&keys, "did:bindu:alice:bot:1234", body, 1_700_000_000)?;
/// let options = VerifyOptions::at(1_700_000_010);
/// verify_request(&headers, body, &keys.public(), &options)?;
/// # Ok::<(), vaultid::signing::Rejection>(())
/// ```
pub fn sign_request(
    keys: &KeyPair,
    did: &str,
    body: &[u8],
    timestamp: i64,
) -> Result<SignatureHeaders, Rejection> {
    let text = body_text(body)?;
    let payload = canonical_payload(text, did, timestamp);
    Ok(SignatureHeaders {
        did: did.to_string(),
        signature: keys.sign(payload.as_bytes()),
        timestamp,
    })
}

/// How [`verify_request`] judges a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Accepted distance between the timestamp and the clock, either way
    /// (default [`DEFAULT_WINDOW`], 300 s; a distance of exactly the window
    /// is accepted, as in the framework).
    pub window: Duration,
    /// The DID the caller must be (the OAuth2 token's `client_id`, or the
    /// DID the key was resolved for); `None` checks nothing.
    pub expected_did: Option<String>,
    /// The clock, Unix seconds; `None` reads the system clock.
    pub now: Option<i64>,
}

impl Default for VerifyOptions {
    fn default() -> VerifyOptions {
        VerifyOptions {
            window: DEFAULT_WINDOW,
            expected_did: None,
            now: None,
        }
    }
}

impl VerifyOptions {
    /// The defaults with the clock fixed at `now` (Unix seconds).
    pub fn at(now: i64) -> VerifyOptions {
        VerifyOptions {
            now: Some(now),
            ..VerifyOptions::default()
        }
    }

    /// These options, requiring the caller to be `did`.
    pub fn expecting(mut self, did: &str) -> VerifyOptions {
        self.expected_did = Some(did.to_string());
        self
    }
}

/// Verify a signed request as the framework does: the DID (when one is
/// expected), then the window, then the body's UTF-8, then the signature
/// over [`canonical_payload`] with `public_key`.
pub fn verify_request(
    headers: &SignatureHeaders,
    body: &[u8],
    public_key: &PublicKey,
    options: &VerifyOptions,
) -> Result<(), Rejection> {
    if let Some(expected) = &options.expected_did {
        if *expected != headers.did {
            return Err(Rejection::DidMismatch {
                expected: expected.clone(),
                got: headers.did.clone(),
            });
        }
    }
    let now = options.now.unwrap_or_else(unix_now);
    let window_secs = options.window.as_secs();
    let distance = (i128::from(now) - i128::from(headers.timestamp)).unsigned_abs();
    if distance > u128::from(window_secs) {
        return Err(Rejection::OutsideWindow {
            timestamp: headers.timestamp,
            now,
            window_secs,
        });
    }
    let text = body_text(body)?;
    let signature = decode_signature(&headers.signature)?;
    let payload = canonical_payload(text, &headers.did, headers.timestamp);
    ed25519_compact::PublicKey::new(*public_key.as_bytes())
        .verify(payload.as_bytes(), &signature)
        .map_err(|_| Rejection::SignatureMismatch)
}

/// `X-DID-Signature` as a signature: base58 of exactly 64 bytes.
pub(crate) fn decode_signature(s: &str) -> Result<ed25519_compact::Signature, Rejection> {
    if s.len() > MAX_SIGNATURE_CHARS {
        return Err(malformed(format!(
            "{HEADER_SIGNATURE} is {} characters long; base58 of an Ed25519 signature has at \
             most 88",
            s.len()
        )));
    }
    let raw = base58::decode(s).map_err(|e| malformed(format!("{HEADER_SIGNATURE}: {e}")))?;
    ed25519_compact::Signature::from_slice(&raw).map_err(|_| {
        malformed(format!(
            "{HEADER_SIGNATURE} decodes to {} bytes; an Ed25519 signature has 64",
            raw.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: Python's `json.dumps` escaping written the slow,
    /// obvious way (one character at a time, through `encode_utf16`).
    fn reference(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                _ => {
                    let mut b = [0u16; 2];
                    for u in c.encode_utf16(&mut b) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out
    }

    // Written by CPython 3.11's json.dumps({"body": b, "did": d,
    // "timestamp": t}, sort_keys=True) (see docs/signing.md).
    const PYTHON_VECTORS: &[(&str, &str, i64, &str)] = &[
        (
            "",
            "did:bindu:a:b:c",
            0,
            r#"{"body": "", "did": "did:bindu:a:b:c", "timestamp": 0}"#,
        ),
        (
            "/\u{7f}\u{0}\u{1f}",
            "d",
            1,
            r#"{"body": "/\u007f\u0000\u001f", "did": "d", "timestamp": 1}"#,
        ),
        (
            "\"\\\u{8}\u{c}\n\r\t",
            "d",
            1,
            r#"{"body": "\"\\\b\f\n\r\t", "did": "d", "timestamp": 1}"#,
        ),
        (
            "\u{2028}\u{ffff}\u{1F600}é",
            "d",
            -5,
            r#"{"body": "\u2028\uffff\ud83d\ude00\u00e9", "did": "d", "timestamp": -5}"#,
        ),
    ];

    /// The vectors of docs/signing.md: RFC 8032's first test key, signed
    /// by the framework's code (create_signature_payload, json.dumps with
    /// sort_keys, PyNaCl, base58).
    #[test]
    fn the_documented_vectors() {
        let seed: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                        [2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        let keys = KeyPair::from_seed(seed.try_into().unwrap()).unwrap();
        assert_eq!(
            keys.public().base58(),
            "FVen3X669xLzsi6N2V91DoiyzHzg1uAgqiT8jZ9nS96Z"
        );
        let did = "did:bindu:user_at_example_com:my-agent:fabb74f0-a028-4fe9-efd6-4efcbbd10d44";
        for (body, signature) in [
            ("", "3bxSqcz8mjkq8qCve6y4ffxwhPJ73X9yMUMbvyJ5EByRPhVfwqJphDPuZzWGJV3gtCBPK88b4r6TmwTroseyik2v"),
            (
                r#"{"jsonrpc":"2.0","method":"message/send","id":1}"#,
                "5oEYukPCNdHS7Ydky7VxrnXqc6Z5SYB13KmTjiGdKr4gC27pMzrWt5JZEZku4No6C4EPcMbk6zyDQJpej9UyRqU9",
            ),
            (
                "h\u{e9}llo \"w\\orld\"\n\t/\u{2028}\u{1F600}\u{7f}",
                "xmeB8W5pLhjeyEuoT2ZHHaUNTktTFwNjLA5A4mKoiyNPnHfFDGJisMctieTXYeJzpwLdhtfwcUzdeRT7G15HqDP",
            ),
        ] {
            let h = sign_request(&keys, did, body.as_bytes(), 1_700_000_000).unwrap();
            assert_eq!(h.signature, signature, "{body:?}");
        }
        assert_eq!(
            canonical_payload(
                "h\u{e9}llo \"w\\orld\"\n\t/\u{2028}\u{1F600}\u{7f}",
                did,
                1_700_000_000
            ),
            format!(
                r#"{{"body": "h\u00e9llo \"w\\orld\"\n\t/\u2028\ud83d\ude00\u007f", "did": "{did}", "timestamp": 1700000000}}"#
            )
        );
    }

    #[test]
    fn matches_pythons_json_dumps() {
        for (body, did, ts, want) in PYTHON_VECTORS {
            assert_eq!(canonical_payload(body, did, *ts), *want, "{body:?}");
        }
    }

    #[test]
    fn escaping_matches_the_reference_on_every_code_point_class() {
        let mut all = String::new();
        for c in (0u32..0x800)
            .chain(0xd7f0..0xe010)
            .chain(0xfff0..0x10100)
            .chain(0x10fff0..0x110000)
            .filter_map(char::from_u32)
        {
            all.push(c);
            let one = c.to_string();
            assert_eq!(
                canonical_payload(&one, "", 0),
                format!(
                    r#"{{"body": "{}", "did": "", "timestamp": 0}}"#,
                    reference(&one)
                )
            );
        }
        assert_eq!(
            canonical_payload(&all, &all, i64::MIN),
            format!(
                r#"{{"body": "{0}", "did": "{0}", "timestamp": {1}}}"#,
                reference(&all),
                i64::MIN
            )
        );
        assert!(canonical_payload(&all, "x", 1).is_ascii());
    }

    #[test]
    fn sign_then_verify_and_every_reason_to_refuse() {
        let keys = KeyPair::generate();
        let did = "did:bindu:alice:bot:1";
        let body = "{\"q\":\"héllo \u{1F600}\"}".as_bytes();
        let h = sign_request(&keys, did, body, 1000).unwrap();
        let pk = keys.public();
        let at = |now| VerifyOptions::at(now).expecting(did);
        verify_request(&h, body, &pk, &at(1000)).unwrap();
        verify_request(&h, body, &pk, &at(1300)).unwrap();
        verify_request(&h, body, &pk, &at(700)).unwrap();
        let reason = |r: Result<(), Rejection>| r.unwrap_err().reason();
        assert_eq!(
            reason(verify_request(&h, body, &pk, &at(1301))),
            "timestamp_out_of_window"
        );
        assert_eq!(
            reason(verify_request(&h, body, &pk, &at(699))),
            "timestamp_out_of_window"
        );
        assert_eq!(
            reason(verify_request(&h, b"{\"q\":1}", &pk, &at(1000))),
            "crypto_mismatch"
        );
        let other = KeyPair::generate().public();
        assert_eq!(
            reason(verify_request(&h, body, &other, &at(1000))),
            "crypto_mismatch"
        );
        let opts = VerifyOptions::at(1000).expecting("did:bindu:mallory:bot:1");
        assert_eq!(reason(verify_request(&h, body, &pk, &opts)), "did_mismatch");
        let mut later = h.clone();
        later.timestamp = 1001;
        assert_eq!(
            reason(verify_request(&later, body, &pk, &at(1000))),
            "crypto_mismatch"
        );
        assert_eq!(
            reason(verify_request(&h, b"\xff", &pk, &at(1000))),
            "malformed_input"
        );
        for sig in ["", "0OIl", &"1".repeat(500), &base58::encode(&[7u8; 63])] {
            let mut bad = h.clone();
            bad.signature = sig.to_string();
            assert_eq!(
                reason(verify_request(&bad, body, &pk, &at(1000))),
                "malformed_input"
            );
        }
        let e = sign_request(&keys, did, b"ok\xc3", 1).unwrap_err();
        assert!(e.to_string().contains("byte 2 of 3"), "{e}");
        // Extreme clocks and timestamps do not overflow.
        let mut far = h.clone();
        far.timestamp = i64::MIN;
        assert_eq!(
            reason(verify_request(&far, body, &pk, &at(i64::MAX))),
            "timestamp_out_of_window"
        );
    }

    #[test]
    fn header_parsing() {
        let h = SignatureHeaders::from_headers([
            ("content-type", "application/json"),
            ("x-did", " did:x "),
            ("X-DID-SIGNATURE", "abc"),
            ("x-did-timestamp", "+0017"),
        ])
        .unwrap();
        assert_eq!(h, SignatureHeaders::new("did:x", "abc", 17));
        let reason = |r: Result<SignatureHeaders, Rejection>| r.unwrap_err().reason();
        assert_eq!(
            reason(SignatureHeaders::from_headers([("x-did", "d")])),
            "missing_signature_headers"
        );
        assert_eq!(
            reason(SignatureHeaders::parse("d", "s", "")),
            "missing_signature_headers"
        );
        for ts in [
            "1.5",
            "1e3",
            "0x10",
            "1_000",
            "",
            "-",
            "99999999999999999999",
            "١٢",
        ] {
            let r = SignatureHeaders::parse("d", "s", ts);
            assert!(r.is_err(), "{ts:?}");
        }
        assert_eq!(
            SignatureHeaders::parse("d", "s", "-42").unwrap().timestamp,
            -42
        );
        assert_eq!(
            reason(SignatureHeaders::parse("d\n", "s", "1")),
            "malformed_input"
        );
        assert_eq!(
            reason(SignatureHeaders::from_headers([
                ("x-did", "a"),
                ("X-DID", "b")
            ])),
            "malformed_input"
        );
        let pairs = h.to_pairs();
        assert_eq!(pairs[2], ("X-DID-Timestamp", "17".to_string()));
    }
}
