//! The template engine (lexer, parser, executor) on arbitrary templates:
//! parsing never panics, and a template that parses renders, or fails,
//! within its bounds: output no larger than the cap, a bounded number of
//! steps (deep nesting, huge `range`s, recursion through `template`).
//! The first byte picks delimiters and the missing-key rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::template::render;

const OUTPUT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (l, r) = match mode & 3 {
        0 => (None, None),
        1 => (Some("[["), Some("]]")),
        2 => (Some("<%"), Some("%>")),
        _ => (Some("{"), Some("}")),
    };
    let data = serde_json::json!({
        "secret/data/app": {"data": {"data": {"user": "u", "port": 5432, "list": ["a", "b"], "m": {"k": 1.5}}}},
    });
    if let Ok(Some(out)) = render(text, l, r, mode & 4 != 0, data, OUTPUT, 20_000) {
        assert!(out.len() <= OUTPUT);
    }
});
