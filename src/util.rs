//! Helpers shared by several modules, one home each: time formatting,
//! randomness (jitter and secrets), the retry backoff, base64, mutex
//! locking, request paths, URLs as they may be shown, and the file
//! helpers every writer shares ([`fs`]).
//! Internal to the crate.

pub mod base64;
pub(crate) mod fs;
pub(crate) mod random;
pub(crate) mod time;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A codec's reverse lookup: ASCII byte to its digit value in `alphabet`,
/// `invalid` for bytes outside it.
pub(crate) const fn reverse_table(alphabet: &[u8], invalid: u8) -> [u8; 256] {
    let mut table = [invalid; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
}

/// The wait before the next try after `failures` failures in a row: 1 s
/// doubling (1, 2, 4, ...), at most `cap`, less up to 20 % jitter, so that
/// many clients failing together do not retry together. The one backoff of
/// the agent's sources, its token renewals and logins, and the token
/// renewer thread.
pub(crate) fn backoff(failures: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(cap);
    base.mul_f64(1.0 - 0.2 * random::jitter())
}

/// Lock a mutex, ignoring poisoning (the data is plain state that a
/// panicking holder cannot leave half-written).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path of a request target without its query (which may carry
/// secrets, e.g. a wrapped token) or fragment: for messages and logs.
pub(crate) fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// A URL as it may be shown: a password in it (`user:password@`) replaced
/// by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Unicode format characters (general category Cf, Unicode 15.1): they
/// are invisible, and some reorder what a reader sees (bidi overrides
/// U+202A-202E and isolates U+2066-2069) or hide text (zero-width ones).
const FORMAT_CHARS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// `true` for a Unicode format character (general category Cf).
pub(crate) fn is_format_char(c: char) -> bool {
    let n = c as u32;
    FORMAT_CHARS.iter().any(|&(lo, hi)| (lo..=hi).contains(&n))
}

/// `s` with every control character, Unicode format character (bidi
/// controls, zero-width characters) and line or paragraph separator shown
/// as its escape (`\u{1b}`, `\n`, `\u{202e}`): one line, nothing a terminal
/// or a reader would act on. Borrowed when there is nothing to escape.
pub(crate) fn escape_invisible(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden =
        |c: char| c.is_control() || matches!(c as u32, 0x2028 | 0x2029) || is_format_char(c);
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An octal mode string (`"0600"`, `"640"`), permission bits only.
pub(crate) fn parse_mode(s: &str) -> Option<u32> {
    let m = u32::from_str_radix(s.trim(), 8).ok()?;
    (m <= 0o777 && !s.trim().is_empty()).then_some(m)
}

/// A string as Go's `encoding/json` writes it (what the `bao` CLI's
/// `-format=json` and consul-template's `toJSON` print): `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as `\u00XX`/`\u20XX`, `\b \f \n \r \t`
/// short, other control characters `\u00XX`.
pub(crate) fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_strings_are_escaped_as_bao_prints_them() {
        let mut out = String::new();
        go_json_string("a\u{8}b\u{c}c<>&\u{2028}\u{1}\"\\\n", &mut out);
        assert_eq!(out, r#""a\bb\fc\u003c\u003e\u0026\u2028\u0001\"\\\n""#);
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let cap = Duration::from_secs(30);
        assert!(backoff(1, cap) <= Duration::from_secs(1));
        assert!(backoff(1, cap) >= Duration::from_millis(800));
        assert!(backoff(3, cap) <= Duration::from_secs(4));
        assert!(backoff(3, cap) >= Duration::from_millis(3200));
        assert!(backoff(50, cap) <= cap && backoff(50, cap) >= Duration::from_secs(24));
        assert_eq!(backoff(0, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn strip_query_keeps_the_path() {
        assert_eq!(strip_query("/v1/x?token=s"), "/v1/x");
        assert_eq!(strip_query("/v1/x"), "/v1/x");
        assert_eq!(strip_query("/v1/x#frag"), "/v1/x");
        assert_eq!(strip_query(""), "");
    }

    #[test]
    fn redact_url_hides_the_password() {
        assert_eq!(
            redact_url("http://u:secret@proxy:3128/x"),
            "http://u:***@proxy:3128/x"
        );
        assert_eq!(redact_url("proxy:3128"), "proxy:3128");
        assert_eq!(redact_url("http://u@h/"), "http://u@h/");
    }

    #[test]
    fn lock_survives_poisoning() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert_eq!(*lock(&m), 1);
    }
}
