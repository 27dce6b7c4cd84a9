//! `AgentConfig::parse` (the agent's strict JSON configuration) and
//! `agent::status::judge` and `human` (a status file read by `vaultid agent
//! status`, and its readable summary) on arbitrary bytes: errors, never
//! panics; an accepted configuration keeps its invariants; the summary is
//! lines without control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::agent::{human, intervals, judge, mode_or_default, AgentConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = AgentConfig::parse(data, "fuzz.json") {
        let mut names = std::collections::BTreeSet::new();
        for s in &c.sources {
            assert!(names.insert(s.name.clone()), "duplicate source accepted");
            assert!(!s.files.is_empty());
            for f in &s.files {
                assert!(mode_or_default(f.mode.as_deref()) <= 0o777);
            }
        }
        let _ = intervals(&c);
        let _ = format!("{c:?}");
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let (code, judged) = judge(v);
        assert!(matches!(code, 0 | 1 | 3 | 5));
        for now in [0, 1_800_000_000, u64::MAX] {
            let text = human(&judged, now);
            assert!(
                text.chars().all(|c| c == '\n' || !c.is_control()),
                "{text:?}"
            );
        }
    }
});
