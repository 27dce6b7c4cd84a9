//! Rendering a source's fields into a file's bytes, and writing a file only
//! when those bytes change.
//!
//! - `env`: one `export NAME='value'` line per field, quoted by
//!   [`crate::secrets::shell`], so `sh` reads every value back byte for
//!   byte; names follow `vaultid env`'s rules (invalid names are refused,
//!   or normalised with `normalize`).
//! - `json`: one JSON object of the fields, and a newline.
//! - `raw`: the value of one field as is (a string's bytes; a list of
//!   strings one per line; anything else as JSON).
//!
//! Writes go through [`crate::cache::write_atomic`] (temp file created with
//! the final mode, fsync, rename, directory fsync): a reader sees the old
//! file or the new one, never a truncated or blank one, and an unchanged
//! rendering writes nothing at all.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::{FileConfig, Format};
use crate::error::{Error, Result};
use crate::secrets::env::{fields_to_vars, EnvBuilder, EnvOptions, FieldMap, SecretSpec};
use crate::secrets::shell;

/// A file's rendered bytes, zeroed when dropped.
pub(crate) struct Rendered(Vec<u8>);

impl Rendered {
    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Rendered {
    fn drop(&mut self) {
        crate::secret_string::zeroize_bytes(&mut self.0);
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rendered({} bytes)", self.0.len())
    }
}

/// Render `data` (the fields of source `label`) as `file` says.
pub(crate) fn render(
    file: &FileConfig,
    label: &str,
    data: &Map<String, Value>,
) -> Result<Rendered> {
    let pick = |key: &str| {
        data.get(key).ok_or_else(|| {
            Error::Config(format!(
                "{label} has no field {key:?} (for {}); it has: {}",
                file.path.display(),
                data.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    match file.format {
        Format::Raw => {
            let key = file.field.as_deref().unwrap_or("access_token");
            Ok(Rendered(raw_value(pick(key)?)))
        }
        Format::Json => {
            let v = match &file.field {
                Some(k) => {
                    let mut m = Map::new();
                    m.insert(k.clone(), pick(k)?.clone());
                    Value::Object(m)
                }
                None => Value::Object(data.clone()),
            };
            let mut out = serde_json::to_vec(&v)
                .map_err(|e| Error::Config(format!("encoding {label} as JSON: {e}")))?;
            out.push(b'\n');
            let mut v = v;
            crate::secret_string::zeroize_json(&mut v);
            Ok(Rendered(out))
        }
        Format::Env => {
            let fields = match (&file.field, &file.fields) {
                (Some(k), _) => vec![FieldMap {
                    key: k.clone(),
                    name: None,
                }],
                (None, Some(map)) => map
                    .iter()
                    .map(|(k, n)| FieldMap {
                        key: k.clone(),
                        name: Some(n.clone()),
                    })
                    .collect(),
                (None, None) => Vec::new(),
            };
            for f in &fields {
                if let Some(n) = &f.name {
                    crate::secrets::env::validate_name(n)?;
                }
            }
            let spec = SecretSpec {
                path: label.to_string(),
                fields,
            };
            let opts = EnvOptions {
                kv_mount: String::new(),
                normalize: file.normalize,
                allow_override: false,
            };
            let vars = fields_to_vars(label, data, &spec, &opts)?;
            let mut b = EnvBuilder::new();
            b.add(label, vars, crate::secrets::env::Precedence::KeepFirst)?;
            let mut out = Vec::new();
            for (name, value) in b.finish() {
                if value.expose().contains('\0') {
                    return Err(Error::Config(format!(
                        "{label}: the value of {name} holds a NUL byte, which no environment variable can carry"
                    )));
                }
                let mut line = shell::export_line(&name, value.expose());
                out.extend_from_slice(line.as_bytes());
                crate::secret_string::zeroize_string(&mut line);
            }
            Ok(Rendered(out))
        }
    }
}

fn raw_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

/// The SHA-256 of some bytes (what is remembered of a written file).
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `path` holds exactly `bytes` (false when it cannot be read).
pub(crate) fn file_holds(path: &Path, bytes: &[u8]) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut have = Vec::with_capacity(bytes.len() + 1);
    if f.take(bytes.len() as u64 + 1)
        .read_to_end(&mut have)
        .is_err()
    {
        return false;
    }
    let same = have == bytes;
    crate::secret_string::zeroize_bytes(&mut have);
    same
}

/// Write `bytes` to `path` with `mode` unless it already holds them, as far
/// as `last` (the digest of the last write, `None` before the first) and,
/// before the first write, the file itself tell. Returns whether it wrote.
pub(crate) fn write_if_changed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    last: &mut Option<[u8; 32]>,
) -> Result<bool> {
    let d = digest(bytes);
    let same = match last {
        Some(l) => *l == d && path.exists(),
        None => file_holds(path, bytes),
    };
    if same {
        *last = Some(d);
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "the directory of {} does not exist",
                path.display()
            )));
        }
    }
    crate::cache::write_atomic(path, bytes, mode)?;
    *last = Some(d);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(format: &str, extra: Value) -> FileConfig {
        let mut v = json!({"path": "/x", "format": format});
        if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
            a.extend(b);
        }
        serde_json::from_value(v).unwrap()
    }

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn formats() {
        let d = data(json!({"user": "app", "password": "it's $x `id`\n", "n": 3}));
        let r = render(&file("env", json!({})), "db", &d).unwrap();
        assert_eq!(
            String::from_utf8(r.bytes().to_vec()).unwrap(),
            "export n='3'\nexport password='it'\\''s $x `id`\n'\nexport user='app'\n"
        );
        let r = render(
            &file("env", json!({"fields": {"password": "DB_PASS"}})),
            "db",
            &d,
        )
        .unwrap();
        assert!(r.bytes().starts_with(b"export DB_PASS="));
        let r = render(&file("raw", json!({"field": "password"})), "db", &d).unwrap();
        assert_eq!(r.bytes(), b"it's $x `id`\n");
        let r = render(&file("json", json!({})), "db", &d).unwrap();
        let back: Value = serde_json::from_slice(r.bytes()).unwrap();
        assert_eq!(back, Value::Object(d.clone()));
        let e = render(&file("raw", json!({"field": "nope"})), "db", &d).unwrap_err();
        assert!(e.to_string().contains("nope") && !e.to_string().contains("it's"));
    }

    #[test]
    fn env_names_follow_vaultid_env() {
        let d = data(json!({"api-key": "v"}));
        let e = render(&file("env", json!({})), "s", &d).unwrap_err();
        assert!(e.to_string().contains("api-key"), "{e}");
        let r = render(&file("env", json!({"normalize": true})), "s", &d).unwrap();
        assert_eq!(r.bytes(), b"export API_KEY='v'\n");
        let e = render(&file("env", json!({"fields": {"api-key": "1X"}})), "s", &d).unwrap_err();
        assert!(e.to_string().contains("1X"));
        let d = data(json!({"a": "x\u{0}y"}));
        assert!(render(&file("env", json!({})), "s", &d).is_err());
    }

    #[test]
    fn writes_only_changes() {
        let dir = std::env::temp_dir().join(format!("vaultid-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let _ = std::fs::remove_file(&p);
        let mut last = None;
        assert!(write_if_changed(&p, b"a", 0o600, &mut last).unwrap());
        assert!(!write_if_changed(&p, b"a", 0o600, &mut last).unwrap());
        let mut fresh = None;
        assert!(!write_if_changed(&p, b"a", 0o600, &mut fresh).unwrap());
        assert!(write_if_changed(&p, b"b", 0o600, &mut last).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"b");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
