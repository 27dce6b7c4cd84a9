//! The local store in the key directory: the startup lock, the key pair and
//! the OAuth2 credentials file.
//!
//! Guarantees:
//! - the key directory is created `0700`, `private.pem` and
//!   `oauth_credentials.json` are created `0600` (the mode is given to
//!   `open`, there is no chmod-after window), `public.pem` is `0644`;
//! - every file is replaced atomically (temporary file in the same directory,
//!   fsync, rename, fsync of the directory), so a reader never sees a
//!   half-written file, even after a crash;
//! - a key pair is never deleted: a pair that has to make room is renamed
//!   aside with a timestamp.
//!
//! Layout (compatible with the Python agent framework):
//! `{key_dir}/private.pem`, `{key_dir}/public.pem`,
//! `{key_dir}/oauth_credentials.json`, `{key_dir}/.lock`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::identity::KeyPair;
use crate::secret_string::SecretString;

/// File name of the private key.
pub const PRIVATE_PEM: &str = "private.pem";
/// File name of the public key.
pub const PUBLIC_PEM: &str = "public.pem";
/// File name of the OAuth2 credentials file.
pub const CREDENTIALS_FILE: &str = "oauth_credentials.json";
/// File name of the startup lock.
pub const LOCK_FILE: &str = ".lock";

/// The local key directory.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

/// Held while the startup lock is taken; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// What [`KeyDir::read_keys`] found.
#[derive(Debug)]
pub struct LocalKeys {
    /// The key pair.
    pub keys: KeyPair,
    /// Problems found and mended on the way (loose permissions, a missing
    /// `public.pem` rewritten from the private key).
    pub repaired: Vec<String>,
}

/// One entry of `oauth_credentials.json`, keyed there by DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// The agent id.
    pub agent_id: String,
    /// The OAuth2 client id (the DID).
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: SecretString,
    /// When the client was registered (ISO 8601).
    pub created_at: String,
    /// Scopes granted to the client.
    pub scopes: Vec<String>,
}

impl StoredCredentials {
    /// Read an entry from its JSON object (Vault data or file entry).
    pub fn from_json(v: &Map<String, Value>) -> Result<StoredCredentials> {
        let s = |k: &str| -> Result<String> {
            match v.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(Error::Integrity(format!(
                    "credentials entry lacks a non-empty string field {k:?}"
                ))),
            }
        };
        let scopes = match v.get("scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_string).ok_or_else(|| {
                        Error::Integrity("credentials entry: scopes must be strings".into())
                    })
                })
                .collect::<Result<_>>()?,
            // Tolerate the space-separated form.
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(_) => {
                return Err(Error::Integrity(
                    "credentials entry: scopes must be a list of strings".into(),
                ))
            }
        };
        Ok(StoredCredentials {
            agent_id: s("agent_id")?,
            client_id: s("client_id")?,
            client_secret: SecretString::new(s("client_secret")?),
            created_at: v
                .get("created_at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            scopes,
        })
    }

    /// The JSON object written to the file and to Vault.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("agent_id".into(), self.agent_id.clone().into());
        m.insert("client_id".into(), self.client_id.clone().into());
        m.insert(
            "client_secret".into(),
            self.client_secret.expose().to_string().into(),
        );
        m.insert("created_at".into(), self.created_at.clone().into());
        m.insert(
            "scopes".into(),
            Value::Array(self.scopes.iter().cloned().map(Value::String).collect()),
        );
        m
    }
}

/// Parse the bytes of `oauth_credentials.json`: a JSON object keyed by DID.
/// Entries are kept as raw JSON so that entries of other agents survive a
/// rewrite untouched.
pub fn parse_credentials_file(bytes: &[u8]) -> Result<BTreeMap<String, Value>> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Integrity(format!("{CREDENTIALS_FILE} is not valid JSON ({e})")))?;
    match v {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Err(Error::Integrity(format!(
            "{CREDENTIALS_FILE} must hold a JSON object keyed by DID"
        ))),
    }
}

/// A UTC timestamp usable in file names: `20261122T043342Z`.
pub fn file_timestamp(t: SystemTime) -> String {
    crate::util::time::file_timestamp(t)
}

impl KeyDir {
    /// A key directory at `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> KeyDir {
        KeyDir { dir: dir.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Path of a file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create the directory (and parents) with mode `0700` if it does not
    /// exist. An existing directory readable by group or others is warned
    /// about (it is the user's directory; its mode is left alone).
    pub fn ensure_dir(&self) -> Result<()> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            Ok(()) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("creating key directory {}", self.dir.display()),
                    e,
                ))
            }
        }
        if let Ok(md) = fs::metadata(&self.dir) {
            if md.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "key directory {} has mode {:o}: group/others can list it; consider chmod 700",
                    self.dir.display(),
                    md.permissions().mode() & 0o777
                );
            }
        }
        Ok(())
    }

    /// Take the exclusive startup lock on `{key_dir}/.lock`, waiting at most
    /// `timeout`. Creates the directory first. One process per host runs the
    /// startup flow at a time; the lock is released when the guard drops or
    /// the process dies.
    pub fn lock(&self, timeout: Duration) -> Result<LockGuard> {
        self.ensure_dir()?;
        let path = self.file(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("opening lock file {}", path.display()), e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { file, path }),
                Err(fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= timeout {
                        return Err(Error::LockTimeout {
                            path,
                            waited: start.elapsed(),
                        });
                    }
                    std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()), e))
                }
            }
        }
    }

    /// Remove temporary files a killed writer left behind
    /// (`.{name}.tmp-{pid}-{nanos}`, only vaultid's own pattern). Call it
    /// while holding the lock. Returns how many were removed.
    pub fn remove_stale_temp_files(&self) -> Result<usize> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(format!("listing {}", self.dir.display()), e)),
        };
        let mut n = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = [PRIVATE_PEM, PUBLIC_PEM, CREDENTIALS_FILE]
                .iter()
                .any(|f| name.starts_with(&format!(".{f}.tmp-")));
            if ours && fs::remove_file(entry.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Read and validate the local key pair.
    ///
    /// `Ok(None)` when there is no `private.pem` (a stray `public.pem` alone
    /// is not a key). A `public.pem` that does not match the private key is
    /// an [`Error::Integrity`]; a missing one is rewritten from the private
    /// key; a private key readable by group or others is reported and
    /// fixed to `0600`.
    pub fn read_keys(&self) -> Result<Option<LocalKeys>> {
        let priv_path = self.file(PRIVATE_PEM);
        let mut repaired = Vec::new();
        let private = match read_secret(&priv_path)? {
            None => return Ok(None),
            Some(p) => p,
        };
        let md = fs::metadata(&priv_path)
            .map_err(|e| Error::io(format!("reading {}", priv_path.display()), e))?;
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let msg = format!(
                "{} had mode {mode:o} (readable by group/others); set to 600",
                priv_path.display()
            );
            log::warn!("{msg}");
            fs::set_permissions(&priv_path, fs::Permissions::from_mode(0o600)).map_err(|e| {
                Error::io(format!("setting mode 600 on {}", priv_path.display()), e)
            })?;
            repaired.push(msg);
        }
        let pub_path = self.file(PUBLIC_PEM);
        let keys = match fs::read_to_string(&pub_path) {
            Ok(public) => KeyPair::from_pems(private.expose(), &public).map_err(|e| match e {
                Error::InvalidKey(m) => Error::InvalidKey(format!(
                    "{} / {}: {m}",
                    priv_path.display(),
                    pub_path.display()
                )),
                Error::Integrity(m) => Error::Integrity(format!(
                    "{} and {} do not belong together: {m}",
                    priv_path.display(),
                    pub_path.display()
                )),
                other => other,
            })?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let keys = KeyPair::from_pem(private.expose()).map_err(|e| match e {
                    Error::InvalidKey(m) => {
                        Error::InvalidKey(format!("{}: {m}", priv_path.display()))
                    }
                    other => other,
                })?;
                write_atomic(&pub_path, keys.public_pem().as_bytes(), 0o644)?;
                repaired.push(format!(
                    "{} was missing; rewritten from the private key",
                    pub_path.display()
                ));
                keys
            }
            Err(e) => return Err(Error::io(format!("reading {}", pub_path.display()), e)),
        };
        Ok(Some(LocalKeys { keys, repaired }))
    }

    /// Write the key pair: `private.pem` (0600) then `public.pem` (0644),
    /// each atomically. A crash between the two leaves a complete private key
    /// whose public half [`KeyDir::read_keys`] restores.
    pub fn write_keys(&self, keys: &KeyPair) -> Result<()> {
        self.ensure_dir()?;
        let private = keys.private_pem();
        write_atomic(&self.file(PRIVATE_PEM), private.expose().as_bytes(), 0o600)?;
        write_atomic(&self.file(PUBLIC_PEM), keys.public_pem().as_bytes(), 0o644)?;
        Ok(())
    }

    /// Rename the current key files aside as `private.pem.aside-<UTC
    /// timestamp>` (and the same for `public.pem`), never deleting them.
    /// Returns the new paths. Does nothing for files that do not exist.
    pub fn set_keys_aside(&self) -> Result<Vec<PathBuf>> {
        let stamp = file_timestamp(SystemTime::now());
        let mut moved = Vec::new();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            let from = self.file(name);
            if !from.exists() {
                continue;
            }
            let mut to = self.file(&format!("{name}.aside-{stamp}"));
            let mut n = 1;
            while to.exists() {
                to = self.file(&format!("{name}.aside-{stamp}-{n}"));
                n += 1;
            }
            fs::rename(&from, &to).map_err(|e| {
                Error::io(
                    format!("moving {} aside to {}", from.display(), to.display()),
                    e,
                )
            })?;
            moved.push(to);
        }
        if !moved.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(moved)
    }

    /// Read `oauth_credentials.json`: `Ok(None)` when absent. A corrupt file
    /// is an error; [`KeyDir::write_credentials`] replaces it only with a
    /// complete new file.
    pub fn read_credentials_file(&self) -> Result<Option<BTreeMap<String, Value>>> {
        let path = self.file(CREDENTIALS_FILE);
        match read_secret(&path)? {
            None => Ok(None),
            Some(s) => parse_credentials_file(s.expose().as_bytes())
                .map(Some)
                .map_err(|e| match e {
                    Error::Integrity(m) => Error::Integrity(format!("{}: {m}", path.display())),
                    other => other,
                }),
        }
    }

    /// The entry for `did` in `oauth_credentials.json`, if present and valid.
    pub fn read_credentials(&self, did: &str) -> Result<Option<StoredCredentials>> {
        let Some(all) = self.read_credentials_file()? else {
            return Ok(None);
        };
        match all.get(did) {
            Some(Value::Object(m)) => StoredCredentials::from_json(m).map(Some),
            Some(_) => Err(Error::Integrity(format!(
                "{}: entry for {did} is not an object",
                self.file(CREDENTIALS_FILE).display()
            ))),
            None => Ok(None),
        }
    }

    /// Set the entry for `did` in `oauth_credentials.json` (0600), keeping
    /// every other entry. A corrupt existing file is reported and replaced by
    /// a file holding just this entry, only after the new file is safely
    /// written. Returns a warning when that happened.
    pub fn write_credentials(
        &self,
        did: &str,
        creds: &StoredCredentials,
    ) -> Result<Option<String>> {
        self.ensure_dir()?;
        let (mut all, warning) = match self.read_credentials_file() {
            Ok(x) => (x.unwrap_or_default(), None),
            Err(Error::Integrity(m)) => (
                BTreeMap::new(),
                Some(format!(
                    "{m}; replaced with a new file holding this agent's entry"
                )),
            ),
            Err(e) => return Err(e),
        };
        all.insert(did.to_string(), Value::Object(creds.to_json()));
        let map: Map<String, Value> = all.into_iter().collect();
        let mut text = serde_json::to_string_pretty(&Value::Object(map))
            .map_err(|e| Error::Integrity(format!("encoding credentials: {e}")))?;
        text.push('\n');
        let secret = SecretString::new(text);
        write_atomic(
            &self.file(CREDENTIALS_FILE),
            secret.expose().as_bytes(),
            0o600,
        )?;
        if let Some(w) = &warning {
            log::warn!("{w}");
        }
        Ok(warning)
    }
}

/// Read a whole file holding a secret. `Ok(None)` when it does not exist.
fn read_secret(path: &Path) -> Result<Option<SecretString>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
    };
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    match String::from_utf8(buf) {
        Ok(s) => Ok(Some(SecretString::new(s))),
        Err(e) => {
            let mut b = e.into_bytes();
            crate::secret_string::zeroize_bytes(&mut b);
            Err(Error::InvalidKey(format!(
                "{} is not UTF-8 text (expected PEM or JSON)",
                path.display()
            )))
        }
    }
}

/// Replace `path` atomically with `bytes`: a temporary file created in the
/// same directory with `mode` from the start, written, fsynced, renamed over
/// `path`, then the directory fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp.display(), path.display()),
                e,
            )
        })?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", d.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "vaultid-cache-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        p
    }

    #[test]
    fn timestamps() {
        assert_eq!(file_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_322_022);
        assert_eq!(file_timestamp(t), "20261122T043342Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(file_timestamp(t), "20000229T000000Z");
    }

    #[test]
    fn modes_and_roundtrip() {
        let d = KeyDir::new(tmpdir("modes").join("nested"));
        assert!(d.read_keys().unwrap().is_none());
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        let mode = |n: &str| fs::metadata(d.file(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(PRIVATE_PEM), 0o600);
        assert_eq!(mode(PUBLIC_PEM), 0o644);
        assert_eq!(
            fs::metadata(d.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let back = d.read_keys().unwrap().unwrap();
        assert_eq!(back.keys.public().base58(), kp.public().base58());
        assert!(back.repaired.is_empty());
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        fs::remove_dir_all(d.path().parent().unwrap()).unwrap();
    }

    #[test]
    fn loose_private_key_is_fixed_and_missing_public_rewritten() {
        let d = KeyDir::new(tmpdir("loose"));
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        fs::set_permissions(d.file(PRIVATE_PEM), fs::Permissions::from_mode(0o644)).unwrap();
        fs::remove_file(d.file(PUBLIC_PEM)).unwrap();
        let back = d.read_keys().unwrap().unwrap();
        assert_eq!(back.repaired.len(), 2, "{:?}", back.repaired);
        assert_eq!(
            fs::metadata(d.file(PRIVATE_PEM))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_to_string(d.file(PUBLIC_PEM)).unwrap(),
            kp.public_pem()
        );
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn mismatched_pair_is_integrity_error() {
        let d = KeyDir::new(tmpdir("mismatch"));
        d.write_keys(&KeyPair::generate()).unwrap();
        let other = KeyPair::generate();
        fs::write(d.file(PUBLIC_PEM), other.public_pem()).unwrap();
        let e = d.read_keys().unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn set_aside_keeps_files() {
        let d = KeyDir::new(tmpdir("aside"));
        let kp = KeyPair::generate();
        d.write_keys(&kp).unwrap();
        let moved = d.set_keys_aside().unwrap();
        assert_eq!(moved.len(), 2);
        assert!(d.read_keys().unwrap().is_none());
        let text = fs::read_to_string(&moved[0]).unwrap();
        assert_eq!(text, kp.private_pem().expose());
        // A second set-aside in the same second does not overwrite the first.
        d.write_keys(&KeyPair::generate()).unwrap();
        let moved2 = d.set_keys_aside().unwrap();
        assert_ne!(moved[0], moved2[0]);
        assert!(moved[0].exists() && moved2[0].exists());
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn lock_times_out_while_held() {
        let d = KeyDir::new(tmpdir("lock"));
        let g = d.lock(Duration::from_secs(1)).unwrap();
        // A second open file description cannot take it.
        let t = Instant::now();
        let e = d.lock(Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(g);
        d.lock(Duration::from_millis(200)).unwrap();
        fs::remove_dir_all(d.path()).unwrap();
    }

    fn creds(secret: &str) -> StoredCredentials {
        StoredCredentials {
            agent_id: "a".into(),
            client_id: "did:bindu:x:y:a".into(),
            client_secret: SecretString::new(secret),
            created_at: "2026-01-01T00:00:00+00:00".into(),
            scopes: vec!["openid".into()],
        }
    }

    #[test]
    fn credentials_file_keeps_other_entries() {
        let d = KeyDir::new(tmpdir("creds"));
        d.ensure_dir().unwrap();
        fs::write(
            d.file(CREDENTIALS_FILE),
            r#"{"did:other":{"agent_id":"o","client_id":"did:other","client_secret":"s","created_at":"","scopes":[]}}"#,
        )
        .unwrap();
        assert!(d
            .write_credentials("did:me", &creds("s3cr3t"))
            .unwrap()
            .is_none());
        let all = d.read_credentials_file().unwrap().unwrap();
        assert!(all.contains_key("did:other") && all.contains_key("did:me"));
        assert_eq!(
            d.read_credentials("did:me").unwrap().unwrap(),
            creds("s3cr3t")
        );
        assert_eq!(
            fs::metadata(d.file(CREDENTIALS_FILE))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn corrupt_credentials_file_replaced_with_warning() {
        let d = KeyDir::new(tmpdir("corrupt"));
        d.ensure_dir().unwrap();
        fs::write(d.file(CREDENTIALS_FILE), "{not json").unwrap();
        assert!(d.read_credentials("did:me").is_err());
        let w = d.write_credentials("did:me", &creds("x")).unwrap();
        assert!(w.unwrap().contains("not valid JSON"));
        assert_eq!(d.read_credentials("did:me").unwrap().unwrap(), creds("x"));
        fs::remove_dir_all(d.path()).unwrap();
    }

    #[test]
    fn credentials_parser_rejects_non_objects() {
        for bad in [&b"[]"[..], b"1", b"", b"\xff"] {
            assert!(parse_credentials_file(bad).is_err());
        }
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"agent_id":"a","client_id":"c"}"#).unwrap();
        let e = StoredCredentials::from_json(&m).unwrap_err().to_string();
        assert!(e.contains("client_secret"), "{e}");
    }
}
