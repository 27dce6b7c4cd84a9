//! The gateway's HTTP/1.1 request reader on arbitrary bytes: requests
//! come from any local process. Never panics; a head it accepts ends where
//! it says, inside the cap, with a framing that is one of the three it
//! knows; the chunked decoder accepts every split of the same input alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::gateway::{parse_head, percent_decode, ChunkedDecoder, Framing, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_head: 4096,
        max_fields: 16,
        max_body: 1 << 16,
    };
    if let Ok(Some((head, n))) = parse_head(data, &limits) {
        assert!(n <= data.len() && n <= limits.max_head + 8);
        assert!(data[..n].ends_with(b"\r\n\r\n"));
        assert!(head.path.starts_with('/'));
        assert!(head.fields.len() <= limits.max_fields);
        if let Framing::Length(len) = head.framing {
            assert!(len > 0 && len <= limits.max_body);
        }
        let _ = percent_decode(&head.path);
        if head.framing == Framing::Chunked {
            let rest = &data[n..];
            let whole = decode(rest, &[rest.len()], limits.max_body);
            let split = decode(
                rest,
                &[rest.len() / 3, rest.len() / 2, rest.len()],
                limits.max_body,
            );
            assert_eq!(whole, split, "the decoder depends on how input is split");
        }
    }
    // Every byte string is also tried as a chunked body.
    let whole = decode(data, &[data.len()], 1 << 16);
    let bytewise: Vec<usize> = (1..=data.len().min(512)).collect();
    if data.len() <= 512 {
        assert_eq!(whole, decode(data, &bytewise, 1 << 16));
    }
});

/// Feeds `data` cut at `cuts`; the decoded bytes, how many input bytes
/// the body took, and whether it ended — or the refusal's status.
fn decode(data: &[u8], cuts: &[usize], max: u64) -> Result<(Vec<u8>, usize, bool), u16> {
    let mut d = ChunkedDecoder::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.min(data.len()).max(at);
        let used = d.feed(&data[at..cut], &mut out).map_err(|r| r.status)?;
        at += used;
        if d.is_done() {
            break;
        }
    }
    assert!(out.len() as u64 <= max);
    Ok((out, at, d.is_done()))
}
