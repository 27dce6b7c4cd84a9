//! The HCL reader (`agent::hcl::parse`) and its mapping onto the agent's
//! model on arbitrary bytes: errors name a line and column inside the
//! input, never a panic; nesting stays within the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaultid::fuzzing::hcl::{agent_config, parse, Body, Value, MAX_DEPTH};

fn depth(b: &Body) -> usize {
    b.entries
        .iter()
        .map(|e| 1 + value_depth(&e.value.value))
        .max()
        .unwrap_or(0)
}

fn value_depth(v: &Value) -> usize {
    match v {
        Value::Object(b) => depth(b),
        Value::List(items) => {
            1 + items
                .iter()
                .map(|n| value_depth(&n.value))
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match parse(text) {
            Ok(body) => assert!(depth(&body) <= 2 * MAX_DEPTH + 2),
            Err(e) => {
                let lines = text.split('\n').count() as u32;
                assert!(e.pos.line >= 1 && e.pos.line <= lines.max(1), "{e}");
            }
        }
    }
    if let Ok(c) = agent_config(data) {
        for t in &c.templates {
            assert!(t.source.is_some() != t.contents.is_some());
            assert!(!t.destination.as_os_str().is_empty());
        }
        let _ = format!("{c:?}");
    }
});
