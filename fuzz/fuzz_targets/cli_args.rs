//! The command line parser (`src/cli/args.rs`, through
//! `vaultid::fuzzing::cli`) on arbitrary arguments: NUL separates arguments, and the parse
//! runs against the flag set of `kv get` with the Vault CLI's global flags
//! (booleans that take `=true|false` among them), in both `--` modes; the checks
//! every command makes afterwards (`exactly`, `at_most`, `human`, `number`)
//! run on whatever it accepted. None may panic; every refusal is a usage
//! error (exit 2) that never repeats a flag's value.
#![no_main]

use libfuzzer_sys::fuzz_target;

use vaultid::fuzzing::cli::{boolean, multi, opt, switch, AfterDashes, Args, Flag, VAULT_FLAGS};

const OWN: &[Flag] = &[
    opt("mount", "m"),
    opt("format", "f"),
    opt("version", "v"),
    opt("field", "k"),
    multi("custom-metadata", "c"),
    boolean("no-store", "n"),
    switch("human", "h"),
    switch("help", "h"),
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
    // `kv get`'s flags and the Vault CLI's global ones.
    let spec: Vec<Flag> = OWN.iter().chain(VAULT_FLAGS).copied().collect();
    for after in [AfterDashes::Positionals, AfterDashes::Command] {
        match Args::parse_with(&argv, &spec, after) {
            Ok(a) => {
                for flag in ["no-store", "tls-skip-verify", "non-interactive"] {
                    // A boolean flag holds true or false, once.
                    assert!(a.values(flag).len() <= 1, "{flag} kept twice");
                    if let Some(v) = a.value(flag) {
                        assert!(v == "true" || v == "false", "{flag}={v:?}");
                    }
                    assert_eq!(a.boolean(flag).is_some(), a.has(flag));
                }
                let _ = a.exactly(1, "u");
                let _ = a.at_most(2, "u");
                let _ = a.human();
                let _ = a.number::<u64>("version");
                let _ = a.values("custom-metadata");
                assert!(
                    a.values("field").len() <= 1,
                    "a single-valued flag kept twice"
                );
            }
            Err(e) => {
                assert_eq!(e.exit_code(), 2);
                // A value given after `=` is never echoed back (unless the
                // same text is also some flag's name, which is shown). Only
                // alphanumeric values are checked: punctuation and escaped
                // bytes in a shown name run into the message's own text
                // (`-\u{1}…; see --help`), so a value such as `…;` can
                // appear in the message without being echoed.
                let msg = e.to_string();
                let names: Vec<&str> = argv
                    .iter()
                    .map(|a| a.split('=').next().unwrap_or(a))
                    .collect();
                for arg in &argv {
                    if let Some((_, v)) = arg.split_once('=') {
                        let distinctive =
                            v.len() >= 8 && v.bytes().all(|b| b.is_ascii_alphanumeric());
                        if distinctive && !names.iter().any(|n| n.contains(v)) {
                            assert!(!msg.contains(v), "{msg} repeats {v:?}");
                        }
                    }
                }
            }
        }
    }
});
