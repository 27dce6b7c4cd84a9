//! Identity input that a DID or a KV path cannot carry, or that can spoof
//! a reader, is refused before anything is written.

use crate::common::tmpdir;

use std::process::Command;

#[test]
fn unsafe_identity_input_is_refused_before_anything_is_written() {
    for (author, name) in [
        ("me@example.com", "agent?list=true"),
        ("me@example.com#x", "agent"),
        ("me@example.com", "ag\u{202E}tnе"),
        ("me@example.com", "agent\u{200B}"),
        ("me@example.com", "agent\u{2066}x\u{2069}"),
        ("me@example.com", "line\u{2028}break"),
        ("me\u{FEFF}@example.com", "agent"),
        ("me@example.com", "bell\u{7}"),
    ] {
        let root = tmpdir("identity");
        let dir = root.join("keys");
        let o = Command::new(env!("CARGO_BIN_EXE_vaultid"))
            .env_clear()
            .env("HOME", &root)
            .env("VAULTID_AUTHOR", author)
            .env("VAULTID_AGENT_NAME", name)
            .env("VAULTID_KEY_DIR", &dir)
            .arg("up")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{author:?}/{name:?}: {err}");
        assert!(
            !dir.exists(),
            "{author:?}/{name:?}: the key directory was created"
        );
        // The error never prints the character itself.
        for c in [
            '\u{202E}', '\u{200B}', '\u{2066}', '\u{2028}', '\u{FEFF}', '\u{7}',
        ] {
            assert!(!err.contains(c), "{err:?}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
