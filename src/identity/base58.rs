//! Base58 with the Bitcoin alphabet, as used by DID documents
//! (`publicKeyBase58`), `did:key` identifiers and signatures over text.
//!
//! Leading zero bytes are written as leading `1`s and read back as zero
//! bytes, so every byte string round-trips exactly.

use std::fmt;

/// The Bitcoin base58 alphabet: no `0`, `O`, `I` or `l`.
const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Marks bytes that are not in [`ALPHABET`].
const INVALID: u8 = 0xff;

/// Reverse lookup: ASCII byte to digit value, [`INVALID`] elsewhere.
const DECODE: [u8; 256] = crate::util::reverse_table(ALPHABET, INVALID);

/// A string that is not base58.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the offending character in the input.
    pub offset: usize,
    /// The offending character.
    pub character: char,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character {:?} at offset {} is not in the base58 (Bitcoin) alphabet",
            self.character, self.offset
        )
    }
}

impl std::error::Error for DecodeError {}

/// Encode bytes as base58 (Bitcoin alphabet).
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::codec::base58;
/// assert_eq!(base58::encode(b"hello world"), "StV1DL6CwTryKyV");
/// assert_eq!(base58::encode(&[0, 0, 1]), "112");
/// # }
/// ```
pub fn encode(data: &[u8]) -> String {
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    let rest = data.get(zeros..).unwrap_or_default();
    // The value of the non-zero part in limbs of five base58 digits
    // (58^5 < 2^32), little-endian, fed four input bytes at a time: about
    // 1/20 of the digit-by-byte work of the schoolbook method, the same
    // digits. A limb times 2^32 plus the carry stays below 2^63.
    let mut limbs: Vec<u64> = Vec::with_capacity(rest.len() * 138 / 500 + 2);
    let head = rest.len() % 4;
    let chunks = rest
        .get(..head)
        .into_iter()
        .chain(rest.get(head..).unwrap_or_default().chunks_exact(4));
    for chunk in chunks.filter(|c| !c.is_empty()) {
        let mut carry = chunk.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let shift = 8 * chunk.len() as u32;
        for limb in limbs.iter_mut() {
            carry += *limb << shift;
            *limb = carry % LIMB;
            carry /= LIMB;
        }
        while carry > 0 {
            limbs.push(carry % LIMB);
            carry /= LIMB;
        }
    }
    let mut out = String::with_capacity(zeros + limbs.len() * LIMB_DIGITS);
    out.extend(std::iter::repeat_n('1', zeros));
    let mut digits = [0u8; LIMB_DIGITS];
    let mut leading = true;
    for &limb in limbs.iter().rev() {
        let mut v = limb;
        for d in digits.iter_mut().rev() {
            *d = (v % 58) as u8;
            v /= 58;
        }
        for &d in &digits {
            // The most significant limb's leading zero digits are not written.
            if leading && d == 0 {
                continue;
            }
            leading = false;
            out.push(char::from(ALPHABET[usize::from(d)]));
        }
    }
    out
}

/// Base58 digits per limb of [`encode`].
const LIMB_DIGITS: usize = 5;

/// 58^5, the base of [`encode`]'s limbs.
const LIMB: u64 = 58u64.pow(LIMB_DIGITS as u32);

/// Decode a base58 (Bitcoin alphabet) string.
///
/// Fails on any character outside the alphabet, including whitespace.
///
/// ```
/// # #[cfg(feature = "fuzzing")] {
/// use vaultid::fuzzing::codec::base58;
/// assert_eq!(base58::decode("StV1DL6CwTryKyV").unwrap(), b"hello world");
/// assert!(base58::decode("0OIl").is_err());
/// # }
/// ```
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let zeros = s.bytes().take_while(|&b| b == b'1').count();
    // Little-endian bytes of the value of the non-`1` part.
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len() * 733 / 1000 + 1);
    for (offset, character) in s.char_indices().skip(zeros) {
        let value = u8::try_from(character)
            .map(|b| DECODE[usize::from(b)])
            .unwrap_or(INVALID);
        if value == INVALID {
            return Err(DecodeError { offset, character });
        }
        let mut carry = u32::from(value);
        for byte in bytes.iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the base58 draft (draft-msporny-base58) and Bitcoin Core's
    // base58_encode_decode.json.
    const VECTORS: &[(&[u8], &str)] = &[
        (b"", ""),
        (&[0x61], "2g"),
        (&[0x62, 0x62, 0x62], "a3gV"),
        (&[0x63, 0x63, 0x63], "aPEr"),
        (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
        (
            b"The quick brown fox jumps over the lazy dog.",
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
        ),
        (&[0x00, 0x00, 0x28, 0x7f, 0xb4, 0xcd], "11233QC4"),
        (&[0x00], "1"),
        (&[0x00, 0x00, 0x00], "111"),
        (&[0x00, 0xff], "15Q"),
        (
            &[
                0x00, 0xeb, 0x15, 0x23, 0x1d, 0xfc, 0xeb, 0x60, 0x92, 0x58, 0x86, 0xb6, 0x7d, 0x06,
                0x52, 0x99, 0x92, 0x59, 0x15, 0xae, 0xb1, 0x72, 0xc0, 0x66, 0x47,
            ],
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
        ),
        (
            &[0xbf, 0x4f, 0x89, 0x00, 0x1e, 0x67, 0x02, 0x74, 0xdd],
            "3SEo3LWLoPntC",
        ),
    ];

    #[test]
    fn known_vectors() {
        for (bytes, text) in VECTORS {
            assert_eq!(encode(bytes), *text, "encode {bytes:02x?}");
            assert_eq!(decode(text).unwrap(), *bytes, "decode {text}");
        }
    }

    #[test]
    fn round_trips_with_leading_zeros() {
        let mut state = 0x1234_5678_u32;
        for len in 0..80 {
            let mut data = Vec::with_capacity(len);
            for i in 0..len {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                // Sprinkle zeros at the front to exercise the `1` prefix.
                data.push(if i < len % 4 { 0 } else { (state >> 16) as u8 });
            }
            assert_eq!(decode(&encode(&data)).unwrap(), data);
        }
    }

    /// The schoolbook encoder (one digit pass per input byte) that
    /// [`encode`] must agree with digit for digit.
    fn encode_reference(data: &[u8]) -> String {
        let zeros = data.iter().take_while(|&&b| b == 0).count();
        let mut digits: Vec<u8> = Vec::new();
        for &byte in &data[zeros..] {
            let mut carry = u32::from(byte);
            for digit in digits.iter_mut() {
                carry += u32::from(*digit) << 8;
                *digit = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits.push((carry % 58) as u8);
                carry /= 58;
            }
        }
        let mut out = "1".repeat(zeros);
        out.extend(
            digits
                .iter()
                .rev()
                .map(|&d| char::from(ALPHABET[usize::from(d)])),
        );
        out
    }

    #[test]
    fn encode_agrees_with_the_schoolbook_method() {
        let mut state = 0x9e37_79b9_u32;
        for len in 0..200 {
            for pattern in 0..4 {
                let data: Vec<u8> = (0..len)
                    .map(|i| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        match pattern {
                            0 => (state >> 16) as u8,
                            1 => 0xff,
                            // leading zeros, then random
                            2 if i < len / 3 => 0,
                            2 => (state >> 16) as u8,
                            // small values: long runs of zero digits
                            _ => u8::from(i % 7 == 0),
                        }
                    })
                    .collect();
                assert_eq!(encode(&data), encode_reference(&data), "{data:02x?}");
            }
        }
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        for bad in ["0", "O", "I", "l", "2g ", " 2g", "2g\n", "+", "é", "1\u{0}"] {
            let err = decode(bad).unwrap_err();
            assert!(err.to_string().contains("base58"), "{bad:?}: {err}");
        }
        let err = decode("abc0def").unwrap_err();
        assert_eq!(err.offset, 3);
        assert_eq!(err.character, '0');
    }
}
