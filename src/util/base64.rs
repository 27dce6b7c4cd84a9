//! Base64 (RFC 4648): the standard alphabet with padding for PEM bodies, and
//! the URL-safe alphabet without padding for random secrets.
//!
//! The decoder is strict: it accepts only the standard alphabet, a length
//! that is a multiple of four, `=` padding only at the very end, and zero
//! unused bits in the last character, so that every byte string has exactly
//! one accepted encoding. Whitespace is not skipped here; the PEM reader
//! strips line breaks before decoding.

use std::fmt;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks bytes that are not in the standard alphabet.
const INVALID: u8 = 0xff;

/// Reverse lookup for the standard alphabet.
const DECODE: [u8; 256] = super::reverse_table(STANDARD, INVALID);

/// Why a string is not strict, padded, standard base64.
///
/// Offsets are byte offsets into the decoder's input. The offending character
/// itself is never reported: the input may be a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A byte outside the standard alphabet (or `=` before the end).
    InvalidByte {
        /// Byte offset of the offending byte.
        offset: usize,
    },
    /// The length is not a multiple of four.
    InvalidLength {
        /// The input length.
        length: usize,
    },
    /// The unused low bits of the last character are not zero (a
    /// non-canonical encoding).
    NonCanonical {
        /// Byte offset of the character with stray bits.
        offset: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::InvalidByte { offset } => write!(
                f,
                "invalid base64 character at offset {offset} (only A-Z a-z 0-9 + / and final = padding are allowed)"
            ),
            DecodeError::InvalidLength { length } => write!(
                f,
                "base64 length {length} is not a multiple of 4 (truncated or missing = padding)"
            ),
            DecodeError::NonCanonical { offset } => write!(
                f,
                "non-canonical base64: unused bits set in the character at offset {offset}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

fn encode_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    let sym = |v: u32| char::from(alphabet[(v & 0x3f) as usize]);
    for chunk in data.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        if chunk.len() > 1 {
            out.push(sym(n >> 6));
        } else if pad {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(sym(n));
        } else if pad {
            out.push('=');
        }
    }
    out
}

/// Encode bytes as standard base64 with `=` padding.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::codec::base64;
/// assert_eq!(base64::encode(b"foob"), "Zm9vYg==");
/// # }
/// ```
pub fn encode(data: &[u8]) -> String {
    encode_with(data, STANDARD, true)
}

/// Encode bytes as URL-safe base64 (`-` and `_`) without padding, as
/// Python's `secrets.token_urlsafe` does.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::codec::base64;
/// assert_eq!(base64::encode_url_nopad(&[0xfb, 0xff]), "-_8");
/// # }
/// ```
pub fn encode_url_nopad(data: &[u8]) -> String {
    encode_with(data, URL_SAFE, false)
}

/// Decode strict, padded, standard base64.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::codec::base64;
/// assert_eq!(base64::decode("Zm9vYg==").unwrap(), b"foob");
/// assert!(base64::decode("Zm9vYg").is_err()); // padding is required
/// assert!(base64::decode("Zm9vYh==").is_err()); // stray bits
/// # }
/// ```
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let input = s.as_bytes();
    if !input.len().is_multiple_of(4) {
        return Err(DecodeError::InvalidLength {
            length: input.len(),
        });
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.len() / 4;
    for (q, quad) in input.chunks_exact(4).enumerate() {
        let base = q * 4;
        let last = q + 1 == quads;
        // Padding: at most two `=`, only in the last quad, only at its end.
        let pad = if last {
            quad.iter().rev().take_while(|&&b| b == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(DecodeError::InvalidByte {
                offset: base + 4 - pad,
            });
        }
        let mut n: u32 = 0;
        for (i, &b) in quad.iter().enumerate().take(4 - pad) {
            let v = DECODE[usize::from(b)];
            if v == INVALID {
                return Err(DecodeError::InvalidByte { offset: base + i });
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        match pad {
            0 => out.extend_from_slice(&bytes),
            1 => {
                if n & 0xff != 0 {
                    return Err(DecodeError::NonCanonical { offset: base + 2 });
                }
                out.extend_from_slice(&bytes[..2]);
            }
            _ => {
                if n & 0xffff != 0 {
                    return Err(DecodeError::NonCanonical { offset: base + 1 });
                }
                out.push(bytes[0]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 section 10.
    const VECTORS: &[(&str, &str)] = &[
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), *encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn url_safe_without_padding() {
        assert_eq!(encode_url_nopad(b""), "");
        assert_eq!(encode_url_nopad(b"f"), "Zg");
        assert_eq!(encode_url_nopad(b"fo"), "Zm8");
        assert_eq!(encode_url_nopad(b"foo"), "Zm9v");
        assert_eq!(encode_url_nopad(&[0xfb, 0xef, 0xff]), "--__");
        assert_eq!(encode(&[0xfb, 0xef, 0xff]), "++//");
    }

    #[test]
    fn round_trips_every_length() {
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..data.len() {
            let slice = &data[..len];
            assert_eq!(decode(&encode(slice)).unwrap(), slice);
        }
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(decode("Zm9"), Err(DecodeError::InvalidLength { length: 3 }));
        assert_eq!(
            decode("Zm9vYg"),
            Err(DecodeError::InvalidLength { length: 6 })
        );
        assert_eq!(decode("Zm 9"), Err(DecodeError::InvalidByte { offset: 2 }));
        assert_eq!(decode("Zm9\n"), Err(DecodeError::InvalidByte { offset: 3 }));
        assert_eq!(decode("Zm-_"), Err(DecodeError::InvalidByte { offset: 2 }));
        assert_eq!(
            decode("Zg==Zg=="),
            Err(DecodeError::InvalidByte { offset: 2 })
        );
        assert_eq!(decode("Z==="), Err(DecodeError::InvalidByte { offset: 1 }));
        assert_eq!(decode("===="), Err(DecodeError::InvalidByte { offset: 0 }));
        assert_eq!(decode("Zm=v"), Err(DecodeError::InvalidByte { offset: 2 }));
        assert_eq!(decode("Zh=="), Err(DecodeError::NonCanonical { offset: 1 }));
        assert_eq!(decode("Zm9="), Err(DecodeError::NonCanonical { offset: 2 }));
        assert!(decode("Zm9vé").is_err());
    }
}
