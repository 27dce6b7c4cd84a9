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
//! Writing, for one source ([`render_source`], [`write_source`]):
//!
//! 1. every file is rendered; one failure writes nothing;
//! 2. each destination is judged on the path itself: a symbolic link, FIFO,
//!    directory, socket or device there is an error naming it (never read
//!    through, never replaced); a regular file is compared with the new
//!    bytes (before the first write) or with the digest of the last write,
//!    opened as the key directory's files are ([`fs::open_no_follow`]:
//!    `O_NOFOLLOW`, non-blocking, regular files only, read no further than
//!    the new length plus one), so nothing there can hang the agent;
//! 3. temporary files a killed writer left for that destination
//!    (`.NAME.tmp-PID-NANOS`, regular files only) are removed;
//! 4. every changed file is written to its temporary file (created with the
//!    final mode, fsynced) before any is renamed in: a full disk fails
//!    here, with every file as it was;
//! 5. the renames, each followed by a directory fsync: the files holding a
//!    `private_key` first ([`rename_order`]), so a certificate is never on
//!    disk, even after a crash, before the key that goes with it.
//!
//! A reader sees the old file or the new one, never a truncated or blank
//! one, and an unchanged rendering writes nothing at all. The token sink
//! and the status file go through the same steps ([`write_if_changed`]).

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::{FileConfig, Format};
use super::sources::FileState;
use crate::error::{Error, Result};
use crate::secrets::env::{fields_to_vars, EnvBuilder, EnvOptions, FieldMap, SecretSpec};
use crate::secrets::shell;
use crate::util::fs::{self, OpenError, OpenMode};

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

/// The error for a destination that is not a regular file, naming it.
fn refused(path: &Path, e: OpenError) -> Error {
    match e {
        OpenError::Link => Error::Config(format!(
            "{} is a symbolic link; the agent neither follows nor replaces a link at a \
             destination: set the file's path to the file itself, or remove the link",
            path.display()
        )),
        OpenError::NotRegular(kind) => Error::Config(format!(
            "{} is a {kind}, not a regular file; the agent only replaces regular files: \
             move it away",
            path.display()
        )),
        OpenError::Io(e) => Error::io(format!("inspecting {}", path.display()), e),
    }
}

/// Refuse a destination that exists and is not a regular file (a link,
/// FIFO, directory, socket or device): judged on the path itself
/// (`lstat`), nothing opened. Missing, or not inspectable, is for the
/// write to find out.
fn check_destination(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(refused(path, OpenError::Link)),
        Ok(m) if !m.file_type().is_file() => Err(refused(
            path,
            OpenError::NotRegular(fs::kind_of(m.file_type())),
        )),
        _ => Ok(()),
    }
}

/// Whether `path` holds exactly `bytes`: `false` when it is missing,
/// unreadable or different. Opened as the key directory's files are
/// ([`fs::open_no_follow`]: no link followed, non-blocking, regular
/// files only) and read no further than `bytes` plus one; a link, FIFO,
/// directory or device is an error naming the path.
pub(crate) fn file_holds(path: &Path, bytes: &[u8]) -> Result<bool> {
    let opened = match fs::open_no_follow(path, OpenMode::Read) {
        Ok(Some(o)) => o,
        Ok(None) | Err(OpenError::Io(_)) => return Ok(false),
        Err(e) => return Err(refused(path, e)),
    };
    if opened.meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    let mut have = Vec::with_capacity(bytes.len() + 1);
    if opened
        .file
        .take(bytes.len() as u64 + 1)
        .read_to_end(&mut have)
        .is_err()
    {
        crate::secret_string::zeroize_bytes(&mut have);
        return Ok(false);
    }
    let same = have == bytes;
    crate::secret_string::zeroize_bytes(&mut have);
    Ok(same)
}

/// A file's new content in its temporary file beside it, not yet renamed
/// in; the temporary file is removed when this is dropped unrenamed.
#[derive(Debug)]
pub(crate) struct Staged {
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
    digest: [u8; 32],
    renamed: bool,
}

impl Staged {
    /// Rename the temporary file over the destination (refused if the
    /// destination became a link or special file meanwhile) and fsync the
    /// directory. Returns the digest of what the file now holds.
    pub(crate) fn rename_in(mut self) -> Result<[u8; 32]> {
        check_destination(&self.path)?;
        fs::rename_in(&self.tmp, &self.path)?;
        self.renamed = true;
        Ok(self.digest)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Remove the temporary files a killed writer left for `paths`
/// ([`fs::remove_stale_temp_files`]: exact name, regular files only),
/// logging what went. Failures to list a directory are logged, not
/// returned: they must not stop a write.
pub(crate) fn remove_stale_temp_files<'a>(paths: impl IntoIterator<Item = &'a Path>) -> usize {
    let mut by_dir: std::collections::BTreeMap<&Path, Vec<&str>> = Default::default();
    for p in paths {
        if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            by_dir
                .entry(dir.unwrap_or(Path::new(".")))
                .or_default()
                .push(name);
        }
    }
    let mut total = 0;
    for (dir, names) in by_dir {
        match fs::remove_stale_temp_files(dir, &names) {
            Ok(0) => {}
            Ok(n) => {
                log::warn!(
                    "removed {n} temporary file(s) left in {} by an interrupted write",
                    dir.display()
                );
                total += n;
            }
            Err(e) => log::warn!("looking for stale temporary files: {}", Error::from(e)),
        }
    }
    total
}

/// Get `bytes` ready to replace `path` (mode `mode`) unless it already
/// holds them, as far as `last` (the digest of the last write, `None`
/// before the first) and, before the first write, the file itself tell.
/// `None`: nothing to write (`last` is set). A destination that is not a
/// regular file is an error naming it, before anything is written. The
/// stale temporary files of `path` are removed first.
pub(crate) fn stage_if_changed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    last: &mut Option<[u8; 32]>,
) -> Result<Option<Staged>> {
    check_destination(path)?;
    let d = digest(bytes);
    let same = match last {
        Some(l) => *l == d && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()),
        None => file_holds(path, bytes)?,
    };
    if same {
        *last = Some(d);
        return Ok(None);
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "the directory of {} does not exist",
                path.display()
            )));
        }
    }
    remove_stale_temp_files([path]);
    let tmp = fs::write_temp(path, bytes, mode)?;
    Ok(Some(Staged {
        tmp,
        path: path.to_path_buf(),
        digest: d,
        renamed: false,
    }))
}

/// Write `bytes` to `path` with `mode` unless it already holds them
/// ([`stage_if_changed`], then the rename). Returns whether it wrote.
pub(crate) fn write_if_changed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    last: &mut Option<[u8; 32]>,
) -> Result<bool> {
    match stage_if_changed(path, bytes, mode, last)? {
        Some(staged) => {
            *last = Some(staged.rename_in()?);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether `file` holds the field `key` of `data` (`field`, `fields`, or
/// every field when it names none).
fn holds_field(file: &FileConfig, data: &Map<String, Value>, key: &str) -> bool {
    match (&file.field, &file.fields) {
        (Some(f), _) => f == key,
        (None, Some(map)) => map.contains_key(key),
        (None, None) => data.contains_key(key),
    }
}

/// The order in which a source's files are renamed into place: the files
/// that hold a `private_key` field first, then the others, each in the
/// order of the configuration. So a certificate is never on disk before
/// its key: a reader that finds the new certificate finds the new key.
pub(crate) fn rename_order(files: &[&FileConfig], data: &Map<String, Value>) -> Vec<usize> {
    let key = |i: &usize| holds_field(files[*i], data, "private_key");
    let (mut first, rest): (Vec<usize>, Vec<usize>) = (0..files.len()).partition(key);
    first.extend(rest);
    first
}

/// A source's files rendered, in rename order, not yet written.
#[derive(Debug)]
pub(crate) struct SourceRendering(Vec<(usize, Rendered)>);

/// Render every file of a source (`label`) from `data`, in rename order
/// ([`rename_order`]). One failure (a missing field, a bad name) fails
/// the whole source: nothing is written.
pub(crate) fn render_source(
    label: &str,
    files: &[FileState],
    data: &Map<String, Value>,
) -> Result<SourceRendering> {
    let configs: Vec<&FileConfig> = files.iter().map(|f| &f.config).collect();
    rename_order(&configs, data)
        .into_iter()
        .map(|i| Ok((i, render(configs[i], label, data)?)))
        .collect::<Result<Vec<_>>>()
        .map(SourceRendering)
}

/// Write a source's rendering: first every changed file's temporary file
/// (so a full disk or any other write error fails before any file is
/// replaced), then the renames in rename order, each followed by an fsync
/// of its directory. Returns the paths replaced. On an error no temporary
/// file is left; files renamed before it (a rename failing is rare: the
/// bytes are on disk by then) hold the new content, and the error names
/// them.
pub(crate) fn write_source(
    files: &mut [FileState],
    rendered: SourceRendering,
) -> Result<Vec<String>> {
    let mut staged = Vec::new();
    for (i, r) in &rendered.0 {
        let f = &mut files[*i];
        let mode = super::config::mode_or_default(f.config.mode.as_deref());
        if let Some(s) = stage_if_changed(&f.config.path, r.bytes(), mode, &mut f.last)? {
            staged.push((*i, s));
        }
    }
    let mut written: Vec<String> = Vec::new();
    for (i, s) in staged {
        let f = &mut files[i];
        match s.rename_in() {
            Ok(d) => f.last = Some(d),
            // Say which files hold the new content already.
            Err(Error::Io { context, source }) if !written.is_empty() => {
                return Err(Error::Io {
                    context: format!("{context} (already replaced: {})", written.join(", ")),
                    source,
                })
            }
            Err(e) => return Err(e),
        }
        written.push(f.config.path.display().to_string());
    }
    Ok(written)
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

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let dir = crate::util::fs::test_path(&format!("render-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_fifos_and_directories_are_refused_never_read_or_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tmpdir("special");
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let t = std::time::Instant::now();
        for last in [None, Some(digest(b"x"))] {
            let mut last = last;
            let e = write_if_changed(&fifo, b"x", 0o600, &mut last).unwrap_err();
            assert!(
                e.to_string().contains("FIFO") && e.to_string().contains("fifo"),
                "{e}"
            );
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());

        let outside = dir.join("outside");
        std::fs::write(&outside, "x").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        // Even holding the very bytes, a link is refused, not read.
        let e = write_if_changed(&link, b"x", 0o600, &mut None).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = write_if_changed(&link, b"y", 0o600, &mut None).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&outside).unwrap(), b"x");
        assert!(file_holds(&link, b"x").is_err());

        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let e = write_if_changed(&sub, b"x", 0o600, &mut None).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");

        // A link among the directories is followed: only the file itself
        // must not be one.
        std::os::unix::fs::symlink(&sub, dir.join("linked")).unwrap();
        assert!(write_if_changed(&dir.join("linked/f"), b"z", 0o600, &mut None).unwrap());
        assert_eq!(std::fs::read(sub.join("f")).unwrap(), b"z");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_key_is_renamed_in_before_the_certificate() {
        let cert = file("raw", json!({"field": "certificate"}));
        let key = file("raw", json!({"field": "private_key"}));
        let ca = file("raw", json!({"field": "issuing_ca"}));
        let all = file("json", json!({}));
        let env_key = file("env", json!({"fields": {"private_key": "KEY"}}));
        let d = data(json!({"certificate": "c", "private_key": "k", "issuing_ca": "a"}));
        assert_eq!(rename_order(&[&cert, &key, &ca], &d), [1, 0, 2]);
        assert_eq!(rename_order(&[&key, &cert], &d), [0, 1]);
        assert_eq!(rename_order(&[&cert, &ca, &all], &d), [2, 0, 1]);
        assert_eq!(rename_order(&[&ca, &cert, &env_key], &d), [2, 0, 1]);
        // Without a private key, the configuration's order.
        let plain = data(json!({"certificate": "c"}));
        assert_eq!(rename_order(&[&cert, &ca, &all], &plain), [0, 1, 2]);
        assert!(rename_order(&[], &d).is_empty());
    }

    #[test]
    fn a_source_is_written_to_temporary_files_before_any_rename() {
        let dir = tmpdir("staged");
        let state = |p: std::path::PathBuf, field: &str| FileState {
            config: serde_json::from_value(json!({"path": p, "format": "raw", "field": field}))
                .unwrap(),
            last: None,
        };
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "old").unwrap();
        let mut files = vec![state(a.clone(), "x"), state(b.clone(), "y")];
        let d = data(json!({"x": "new", "y": "new"}));
        // The second destination is a directory: the first is not replaced.
        std::fs::create_dir(&b).unwrap();
        let r = render_source("s", &files, &d).unwrap();
        let e = write_source(&mut files, r).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        std::fs::remove_dir(&b).unwrap();
        let r = render_source("s", &files, &d).unwrap();
        let mut written = write_source(&mut files, r).unwrap();
        written.sort();
        assert_eq!(written, [a.display().to_string(), b.display().to_string()]);
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        let r = render_source("s", &files, &d).unwrap();
        assert!(write_source(&mut files, r).unwrap().is_empty());
        // A missing field fails the rendering of the whole source.
        let e = render_source("s", &files, &data(json!({"x": "only"}))).unwrap_err();
        assert!(e.to_string().contains("\"y\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
