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
//! - a key pair is never deleted: a pair that has to make room is kept
//!   aside with a timestamp;
//! - **after any failure, the directory holds at least the complete pair it
//!   held before**: a new pair is written to temporary files first, the old
//!   one is hard-linked aside, and only then do renames put the new one in
//!   place (`KeyDir::replace_keys`); a disk that fills up (`ENOSPC`) or
//!   any other I/O error on the way leaves the old pair where it was;
//! - **a concurrent reader never finds `private.pem` or `public.pem`
//!   missing** (the Python framework makes a new pair when either is):
//!   each name is replaced by a rename over it, private key first. Between
//!   the two renames (or after a crash there) the new private key sits
//!   beside the old public key, whose pair is complete aside; `read_keys`
//!   recognises that state and the public half is rewritten from the
//!   private key under the lock.
//!
//! Every file in the directory is opened by `open_in_dir`, the one place
//! that does it: symbolic links are not followed (`O_NOFOLLOW`, the lock
//! file included), only regular files are read (a FIFO, device or directory
//! is an error; opened non-blocking, so a FIFO cannot hang the run while it
//! holds the lock), reads are capped at `MAX_FILE`, and permissions are
//! judged on the opened file (`fstat`). vaultid never changes the mode of a
//! file it did not just create: a loose mode is reported, not mended.
//! The directory itself, when readable or writable by others or owned by
//! another user, is reported by `KeyDir::inspect`.
//!
//! Layout (compatible with the Python agent framework):
//! `{key_dir}/private.pem`, `{key_dir}/public.pem`,
//! `{key_dir}/oauth_credentials.json`, `{key_dir}/.lock`; and vaultid's
//! own `{key_dir}/hydra_token.json` (0600), the still-valid Hydra tokens
//! that `vaultid token` and `vaultid call` reuse.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::identity::KeyPair;
use crate::secret_string::SecretString;
use crate::sys;
use crate::util::fs::{
    open_no_follow, remove_stale_temp_files, sync_dir, write_atomic, write_temp, OpenError,
    OpenMode, OpenedFile,
};

mod token;
#[allow(unused_imports)] // parse_token_cache: for the fuzz targets
pub(crate) use token::{
    parse_token_cache, read_token_cache, update_token_cache, CachedToken, TOKEN_CACHE_FILE,
};

/// File name of the private key.
pub(crate) const PRIVATE_PEM: &str = "private.pem";
/// File name of the public key.
pub(crate) const PUBLIC_PEM: &str = "public.pem";
/// File name of the OAuth2 credentials file.
pub(crate) const CREDENTIALS_FILE: &str = "oauth_credentials.json";
/// File name of the startup lock.
pub(crate) const LOCK_FILE: &str = ".lock";

/// Largest file read from the key directory (1 MiB): a PEM key is a few
/// hundred bytes, a credentials file for thousands of agents fits easily.
pub(crate) const MAX_FILE: u64 = 1024 * 1024;

/// Open `path`, a file in the key directory: the one place that does,
/// through [`open_no_follow`].
///
/// `Ok(None)` when it does not exist. A symbolic link is never followed
/// and anything but a regular file is refused, both as
/// [`Error::InvalidKey`] (the content cannot be used; it is not an I/O
/// failure). Other failures are [`Error::Io`].
pub(crate) fn open_in_dir(path: &Path, mode: OpenMode) -> Result<Option<OpenedFile>> {
    match open_no_follow(path, mode) {
        Ok(opened) => Ok(opened),
        Err(OpenError::Link) => Err(Error::InvalidKey(format!(
            "{} is a symbolic link; vaultid does not follow links in the key directory: \
             replace it with the file itself",
            path.display()
        ))),
        Err(OpenError::NotRegular(kind)) => Err(Error::InvalidKey(format!(
            "{} is not a regular file (a {kind}); move it away",
            path.display()
        ))),
        // A read-only key directory: an existing lock file can still be
        // locked through a read-only descriptor.
        Err(OpenError::Io(e))
            if mode == OpenMode::Lock
                && matches!(
                    e.kind(),
                    ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied
                ) =>
        {
            open_in_dir(path, OpenMode::Read)
        }
        Err(OpenError::Io(e)) => Err(Error::io(format!("opening {}", path.display()), e)),
    }
}

/// Read a whole file opened by [`open_in_dir`], refusing more than `cap`
/// bytes (the file may grow while it is read).
fn read_capped(opened: OpenedFile, path: &Path, cap: u64) -> Result<Vec<u8>> {
    let too_big = || {
        Error::InvalidKey(format!(
            "{} is larger than {} KiB; not a key or credentials file",
            path.display(),
            cap / 1024
        ))
    };
    if opened.meta.len() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    opened
        .file
        .take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if buf.len() as u64 > cap {
        crate::secret_string::zeroize_bytes(&mut buf);
        return Err(too_big());
    }
    Ok(buf)
}

/// A warning when a secret file can be read by group or others (judged on
/// the opened file). The mode is left alone: vaultid never changes the mode
/// of a file it did not just create.
fn loose_mode(path: &Path, meta: &fs::Metadata) -> Option<String> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:o}: group/others can read it; run chmod 600 on it",
            path.display()
        )
    })
}

/// The local key directory.
#[derive(Debug, Clone)]
pub struct KeyDir {
    dir: PathBuf,
}

/// Held while the startup lock is taken; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockGuard {
    file: Option<File>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.unlock();
        }
    }
}

/// What [`KeyDir::read_keys`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct LocalKeys {
    /// The key pair.
    pub keys: KeyPair,
    /// Problems found on the way (a loose mode, reported and left alone) and
    /// mended (`KeyDir::restore_public`).
    pub repaired: Vec<String>,
    /// `public.pem` is missing, or holds the public key of a pair kept
    /// aside (`private.pem.aside-*`) because a replacement stopped between
    /// its two renames: the pair is complete, its public half can be
    /// rewritten from the private key (`KeyDir::restore_public`).
    pub public_missing: bool,
}

/// One entry of `oauth_credentials.json`, keyed there by DID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    pub(crate) fn from_json(v: &Map<String, Value>) -> Result<StoredCredentials> {
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
    pub(crate) fn to_json(&self) -> Map<String, Value> {
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
pub(crate) fn parse_credentials_file(bytes: &[u8]) -> Result<BTreeMap<String, Value>> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Integrity(format!("{CREDENTIALS_FILE} is not valid JSON ({e})")))?;
    match v {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Err(Error::Integrity(format!(
            "{CREDENTIALS_FILE} must hold a JSON object keyed by DID"
        ))),
    }
}

/// The entries of `oauth_credentials.json`, keyed by DID, as raw JSON.
pub(crate) type CredentialsMap = BTreeMap<String, Value>;

/// A UTC timestamp usable in file names: `20261122T043342Z`.
pub(crate) fn file_timestamp(t: SystemTime) -> String {
    crate::util::time::file_timestamp(t)
}

impl KeyDir {
    /// A key directory at `dir` (nothing is touched yet).
    pub fn new(dir: impl Into<PathBuf>) -> KeyDir {
        KeyDir { dir: dir.into() }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Path of a file inside the directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Create the directory (and parents) with mode `0700` if it does not
    /// exist. An existing directory is left as it is (see
    /// [`KeyDir::inspect`]).
    pub(crate) fn ensure_dir(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Error::io(format!("creating key directory {}", self.dir.display()), e))
    }

    /// What is wrong with the directory itself, one line each: owned by
    /// another user (who can replace the key), writable by group or others
    /// (anyone can replace the key), readable by group or others. Its mode
    /// and owner are left alone: it is the user's directory.
    pub(crate) fn inspect(&self) -> Vec<String> {
        let Ok(md) = fs::metadata(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mode = md.permissions().mode() & 0o7777;
        let (owner, me) = (md.uid(), sys::euid());
        if owner != me && owner != 0 {
            out.push(format!(
                "key directory {} is owned by uid {owner}, not by this user (uid {me}): \
                 that user can replace the agent's key",
                self.dir.display()
            ));
        }
        if mode & 0o022 != 0 {
            out.push(format!(
                "key directory {} has mode {:o}: group/others can replace the agent's key; run chmod 700 on it",
                self.dir.display(),
                mode & 0o777
            ));
        } else if mode & 0o077 != 0 {
            out.push(format!(
                "key directory {} has mode {:o}: group/others can list it; consider chmod 700",
                self.dir.display(),
                mode & 0o777
            ));
        }
        out
    }

    /// Take the exclusive startup lock on `{key_dir}/.lock`, waiting at most
    /// `timeout`. Creates the directory first. One process per host runs the
    /// startup flow at a time; the lock is released when the guard drops or
    /// the process dies.
    ///
    /// `.lock` is opened like every other file (`open_in_dir`): a symbolic
    /// link or a non-regular file is refused. In a read-only directory an
    /// existing lock file is locked read-only; without one the run goes on
    /// unlocked, since nobody can write there anyway.
    pub(crate) fn lock(&self, timeout: Duration) -> Result<LockGuard> {
        self.ensure_dir()?;
        let path = self.file(LOCK_FILE);
        let file = match open_in_dir(&path, OpenMode::Lock) {
            Ok(Some(f)) => f.file,
            Ok(None) => {
                log::debug!(
                    "{} cannot be created (read-only directory); going on without the lock",
                    path.display()
                );
                return Ok(LockGuard { file: None });
            }
            Err(Error::InvalidKey(m)) => return Err(Error::Config(format!("lock file: {m}"))),
            Err(e) => return Err(e),
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(LockGuard { file: Some(file) }),
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
    /// ([`remove_stale_temp_files`] for the key pair and the credentials
    /// file). Call it while holding the lock. Returns how many were removed.
    pub(crate) fn remove_stale_temp_files(&self) -> Result<usize> {
        Ok(remove_stale_temp_files(
            &self.dir,
            &[PRIVATE_PEM, PUBLIC_PEM, CREDENTIALS_FILE, TOKEN_CACHE_FILE],
        )?)
    }

    /// Read and validate the local key pair. Writes nothing.
    ///
    /// `Ok(None)` when there is no `private.pem` (a stray `public.pem` alone
    /// is not a key). A `public.pem` that does not match the private key is
    /// an [`Error::Integrity`], unless it is the public key of a pair kept
    /// aside (what a replacement stopped between its two renames leaves);
    /// that one and a missing one are flagged
    /// (`LocalKeys::public_missing`) for `KeyDir::restore_public`; a
    /// private key readable by group or others is reported. A link, a
    /// non-regular file or unreadable content is [`Error::InvalidKey`]; an
    /// I/O failure stays [`Error::Io`] (the key may be fine).
    pub fn read_keys(&self) -> Result<Option<LocalKeys>> {
        let priv_path = self.file(PRIVATE_PEM);
        let mut repaired = Vec::new();
        let Some(opened) = open_in_dir(&priv_path, OpenMode::Read)? else {
            return Ok(None);
        };
        if let Some(w) = loose_mode(&priv_path, &opened.meta) {
            log::warn!("{w}");
            repaired.push(w);
        }
        let private = text(read_capped(opened, &priv_path, MAX_FILE)?, &priv_path)?;
        let pub_path = self.file(PUBLIC_PEM);
        let public = match open_in_dir(&pub_path, OpenMode::Read)? {
            Some(opened) => Some(text(read_capped(opened, &pub_path, MAX_FILE)?, &pub_path)?),
            None => None,
        };
        let (keys, public_missing) = match public {
            Some(public) => match KeyPair::from_pems(private.expose(), public.expose()) {
                Ok(keys) => (keys, false),
                Err(Error::Integrity(m)) => match self.left_by_replacement(&private, &public)? {
                    // The old public half of a pair kept aside: a
                    // replacement stopped between its two renames.
                    Some(keys) => (keys, true),
                    None => {
                        return Err(Error::Integrity(format!(
                            "{} and {} do not belong together: {m}",
                            priv_path.display(),
                            pub_path.display()
                        )))
                    }
                },
                Err(Error::InvalidKey(m)) => {
                    return Err(Error::InvalidKey(format!(
                        "{} / {}: {m}",
                        priv_path.display(),
                        pub_path.display()
                    )))
                }
                Err(other) => return Err(other),
            },
            None => (
                KeyPair::from_pem(private.expose()).map_err(|e| match e {
                    Error::InvalidKey(m) => {
                        Error::InvalidKey(format!("{}: {m}", priv_path.display()))
                    }
                    other => other,
                })?,
                true,
            ),
        };
        Ok(Some(LocalKeys {
            keys,
            repaired,
            public_missing,
        }))
    }

    /// `private.pem` holds a key that `public.pem` does not belong to:
    /// is that `public.pem` the public half of a pair kept aside (a
    /// `private.pem.aside-*` it belongs to)? That is what a replacement
    /// leaves when it stops between renaming the new `private.pem` in and
    /// the new `public.pem` ([`KeyDir::replace_keys`]): the private key is
    /// then the current one, the old pair is complete aside, and rewriting
    /// `public.pem` from the private key loses nothing. The private key's
    /// pair when so; `None` when the mismatch has no such explanation.
    fn left_by_replacement(
        &self,
        private: &SecretString,
        public: &SecretString,
    ) -> Result<Option<KeyPair>> {
        let (Ok(keys), Ok(stale)) = (
            KeyPair::from_pem(private.expose()),
            crate::identity::PublicKey::from_pem(public.expose()),
        ) else {
            return Ok(None);
        };
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("listing {}", self.dir.display()), e))?;
        let prefix = format!("{PRIVATE_PEM}.aside-");
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let path = entry.path();
            // An aside file that cannot be read as a key explains nothing.
            let Ok(Some(opened)) = open_in_dir(&path, OpenMode::Read) else {
                continue;
            };
            let Ok(buf) = read_capped(opened, &path, MAX_FILE) else {
                continue;
            };
            let Ok(pem) = text(buf, &path) else {
                continue;
            };
            if KeyPair::from_pem(pem.expose()).is_ok_and(|old| old.public() == stale) {
                return Ok(Some(keys));
            }
        }
        Ok(None)
    }

    /// Rewrite a missing `public.pem` (or one left by an interrupted
    /// replacement, whose pair is kept aside) from `keys`, under the lock,
    /// which `_lock` proves is held. A failure (a full disk, a read-only
    /// directory) is returned as a warning: the pair is complete without
    /// it and nothing else is touched.
    pub(crate) fn restore_public(&self, keys: &KeyPair, _lock: &LockGuard) -> String {
        let pub_path = self.file(PUBLIC_PEM);
        let was = if fs::symlink_metadata(&pub_path).is_ok() {
            "held the public key of the pair kept aside by an interrupted replacement"
        } else {
            "was missing"
        };
        match write_atomic(&pub_path, keys.public_pem().as_bytes(), 0o644).map_err(Error::from) {
            Ok(()) => format!(
                "{} {was}; rewritten from the private key",
                pub_path.display()
            ),
            Err(e) => format!(
                "{} is missing and could not be rewritten from the private key ({e}); \
                 the private key is complete and in use",
                pub_path.display()
            ),
        }
    }

    /// [`KeyDir::read_keys`] for commands that only use the key (`show`,
    /// `sign`): a missing `public.pem` is restored under the lock, waiting
    /// at most `lock_timeout` for it. A pair that does not match is read
    /// again under the lock: a replacement running in another process
    /// (which holds the lock) may have been caught between its two renames.
    #[cfg(feature = "cli")]
    pub(crate) fn read_keys_locked_repair(
        &self,
        lock_timeout: Duration,
    ) -> Result<Option<LocalKeys>> {
        match self.read_keys() {
            Ok(Some(l)) if !l.public_missing => return Ok(Some(l)),
            Ok(None) => return Ok(None),
            Ok(Some(_)) | Err(Error::Integrity(_)) => {}
            Err(e) => return Err(e),
        }
        let lock = self.lock(lock_timeout)?;
        // Read again: another process may have replaced the pair meanwhile.
        let Some(mut l) = self.read_keys()? else {
            return Ok(None);
        };
        if l.public_missing {
            let note = self.restore_public(&l.keys, &lock);
            log::info!("{note}");
            l.repaired.push(note);
        }
        Ok(Some(l))
    }

    /// Write the key pair into the directory, creating it if needed; a pair
    /// already there is kept aside, as [`KeyDir::replace_keys`] does.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn write_keys(&self, keys: &KeyPair) -> Result<()> {
        self.replace_keys(keys).map(|_| ())
    }

    /// Put `keys` in place of the current pair, keeping the current files
    /// aside as `{name}.aside-<UTC timestamp>`; returns the aside paths.
    ///
    /// The order, so that a reader never finds a name missing and every
    /// failure (a full disk included) or crash leaves a complete pair:
    ///
    /// 1. the new pair is written to temporary files and fsynced
    ///    ([`SwapStep::Written`]);
    /// 2. the current files are hard-linked aside (copied when the file
    ///    system refuses the link; a directory or other non-file is renamed
    ///    aside) and the directory is fsynced ([`SwapStep::KeptAside`]):
    ///    from here the old pair is complete under its aside names;
    /// 3. the new `private.pem` is renamed over the old one
    ///    ([`SwapStep::PrivateIn`]);
    /// 4. the new `public.pem` is renamed over the old one
    ///    ([`SwapStep::PublicIn`]);
    /// 5. the directory is fsynced.
    ///
    /// Each rename replaces a name in one step, so `private.pem` and
    /// `public.pem` exist at every instant (when they existed before).
    /// Between 3 and 4 (two system calls, or for good when the process dies
    /// there) the new private key sits beside the old public key: a
    /// [`KeyDir::read_keys`] then recognises the old public half by its
    /// copy aside and rewrites it from the private key, which is
    /// authoritative, as it does for a missing one.
    pub(crate) fn replace_keys(&self, keys: &KeyPair) -> Result<Vec<PathBuf>> {
        self.ensure_dir()?;
        let private = keys.private_pem();
        let tmp_priv = write_temp(&self.file(PRIVATE_PEM), private.expose().as_bytes(), 0o600)?;
        let tmp_pub = match write_temp(&self.file(PUBLIC_PEM), keys.public_pem().as_bytes(), 0o644)
        {
            Ok(t) => t,
            Err(e) => {
                let _ = fs::remove_file(&tmp_priv);
                return Err(e.into());
            }
        };
        fault::at(SwapStep::Written);
        let result = self.swap_in(&tmp_priv, &tmp_pub);
        let _ = fs::remove_file(&tmp_priv);
        let _ = fs::remove_file(&tmp_pub);
        result
    }

    fn swap_in(&self, tmp_priv: &Path, tmp_pub: &Path) -> Result<Vec<PathBuf>> {
        let stamp = file_timestamp(SystemTime::now());
        let mut aside = Vec::new();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            let from = self.file(name);
            let Ok(md) = fs::symlink_metadata(&from) else {
                continue;
            };
            let to = self.aside_name(name, &stamp);
            // A second name for the same file (for a link, the link
            // itself, never its target), so the name stays in place; where
            // the file system refuses it, a copy of a regular file. A
            // directory (which a rename cannot replace) and any other
            // non-file that cannot be linked hold no key: renamed aside.
            let kept = if md.file_type().is_dir() {
                fs::rename(&from, &to)
            } else {
                fs::hard_link(&from, &to).or_else(|e| {
                    if md.file_type().is_file() {
                        let mode = if name == PRIVATE_PEM { 0o600 } else { 0o644 };
                        copy_aside(&from, &to, mode).map_err(|_| e)
                    } else {
                        fs::rename(&from, &to)
                    }
                })
            };
            kept.map_err(|e| {
                Error::io(
                    format!("keeping {} aside as {}", from.display(), to.display()),
                    e,
                )
            })?;
            aside.push(to);
        }
        if !aside.is_empty() {
            sync_dir(&self.dir)?;
        }
        fault::at(SwapStep::KeptAside);
        let priv_path = self.file(PRIVATE_PEM);
        fs::rename(tmp_priv, &priv_path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp_priv.display(), priv_path.display()),
                e,
            )
        })?;
        fault::at(SwapStep::PrivateIn);
        // From here the new private key is in place. A failure leaves the
        // old public.pem beside it, whose pair is complete aside:
        // read_keys recognises it and it is rewritten from the private key.
        let pub_path = self.file(PUBLIC_PEM);
        fs::rename(tmp_pub, &pub_path).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", tmp_pub.display(), pub_path.display()),
                e,
            )
        })?;
        fault::at(SwapStep::PublicIn);
        sync_dir(&self.dir)?;
        Ok(aside)
    }

    /// A free `{name}.aside-{stamp}[-n]` path.
    fn aside_name(&self, name: &str, stamp: &str) -> PathBuf {
        let mut to = self.file(&format!("{name}.aside-{stamp}"));
        let mut n = 1;
        while fs::symlink_metadata(&to).is_ok() {
            to = self.file(&format!("{name}.aside-{stamp}-{n}"));
            n += 1;
        }
        to
    }

    /// Rename the current key files aside as `private.pem.aside-<UTC
    /// timestamp>` (and the same for `public.pem`), never deleting them.
    /// Returns the new paths. Does nothing for files that do not exist.
    #[cfg(test)]
    pub(crate) fn set_keys_aside(&self) -> Result<Vec<PathBuf>> {
        let stamp = file_timestamp(SystemTime::now());
        let mut moved = Vec::new();
        for name in [PRIVATE_PEM, PUBLIC_PEM] {
            let from = self.file(name);
            if fs::symlink_metadata(&from).is_err() {
                continue;
            }
            let to = self.aside_name(name, &stamp);
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
    /// is an [`Error::Integrity`]; [`KeyDir::write_credentials`] sets it
    /// aside before writing a new one.
    pub(crate) fn read_credentials_file(&self) -> Result<Option<BTreeMap<String, Value>>> {
        Ok(self.read_credentials_checked()?.map(|(all, _)| all))
    }

    /// Like [`KeyDir::read_credentials_file`], with a warning when the file
    /// can be read by group or others.
    pub(crate) fn read_credentials_checked(
        &self,
    ) -> Result<Option<(CredentialsMap, Option<String>)>> {
        let path = self.file(CREDENTIALS_FILE);
        let Some(opened) = open_in_dir(&path, OpenMode::Read).map_err(|e| match e {
            Error::InvalidKey(m) => Error::Integrity(m),
            other => other,
        })?
        else {
            return Ok(None);
        };
        let loose = loose_mode(&path, &opened.meta);
        let bytes = read_capped(opened, &path, MAX_FILE).map_err(|e| match e {
            Error::InvalidKey(m) => Error::Integrity(m),
            other => other,
        })?;
        let secret = SecretString::new(String::from_utf8_lossy(&bytes).into_owned());
        let mut bytes = bytes;
        crate::secret_string::zeroize_bytes(&mut bytes);
        let all = parse_credentials_file(secret.expose().as_bytes()).map_err(|e| match e {
            Error::Integrity(m) => Error::Integrity(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok(Some((all, loose)))
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
    /// every other entry. A corrupt existing file (or a link, or not a
    /// regular file) is kept aside as `oauth_credentials.json.aside-<UTC
    /// timestamp>`, never dropped, and a new file holding this entry is
    /// written. Returns a warning when that happened.
    pub(crate) fn write_credentials(
        &self,
        did: &str,
        creds: &StoredCredentials,
    ) -> Result<Option<String>> {
        self.ensure_dir()?;
        let path = self.file(CREDENTIALS_FILE);
        let (mut all, warning) = match self.read_credentials_checked() {
            // A loose mode goes away with the rewrite (a new 0600 file).
            Ok(Some((all, _))) => (all, None),
            Ok(None) => (BTreeMap::new(), None),
            Err(Error::Integrity(m)) => {
                let to = self.aside_name(CREDENTIALS_FILE, &file_timestamp(SystemTime::now()));
                fs::rename(&path, &to).map_err(|e| {
                    Error::io(
                        format!("moving {} aside to {}", path.display(), to.display()),
                        e,
                    )
                })?;
                (
                    BTreeMap::new(),
                    Some(format!(
                        "{m}; kept aside as {} and replaced with a new file holding this agent's entry \
                         (other agents' entries, if any, are in the file kept aside)",
                        to.display()
                    )),
                )
            }
            Err(e) => return Err(e),
        };
        all.insert(did.to_string(), Value::Object(creds.to_json()));
        let map: Map<String, Value> = all.into_iter().collect();
        let mut text = serde_json::to_string_pretty(&Value::Object(map))
            .map_err(|e| Error::Integrity(format!("encoding credentials: {e}")))?;
        text.push('\n');
        let secret = SecretString::new(text);
        write_atomic(&path, secret.expose().as_bytes(), 0o600)?;
        if let Some(w) = &warning {
            log::warn!("{w}");
        }
        Ok(warning)
    }
}

/// Bytes read from a key file as text.
fn text(buf: Vec<u8>, path: &Path) -> Result<SecretString> {
    match String::from_utf8(buf) {
        Ok(s) => Ok(SecretString::new(s)),
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

/// Copy the regular file `from` to the new name `to` (created with
/// `mode`, fsynced), for a file system without hard links. `from` is
/// opened without following links and read capped, as every file here.
fn copy_aside(from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
    let io = |e: Error| match e {
        Error::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    };
    let opened = open_in_dir(from, OpenMode::Read)
        .map_err(io)?
        .ok_or_else(|| std::io::Error::from(ErrorKind::NotFound))?;
    let mut buf = read_capped(opened, from, MAX_FILE).map_err(io)?;
    let result = (|| {
        let mut f = crate::util::fs::create_new(to, mode)?;
        f.write_all(&buf)?;
        f.sync_all()
    })();
    crate::secret_string::zeroize_bytes(&mut buf);
    result
}

/// The points of [`KeyDir::replace_keys`] a crash can fall between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwapStep {
    /// The new pair is in temporary files, fsynced.
    Written,
    /// The current files have their aside names too, fsynced.
    KeptAside,
    /// The new `private.pem` is in place beside the old `public.pem`.
    PrivateIn,
    /// The new `public.pem` is in place too; the directory is not fsynced
    /// yet.
    PublicIn,
}

#[cfg(feature = "fuzzing")]
impl SwapStep {
    /// The step's name, as `VAULTID_FAULT_KILL_AT` gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SwapStep::Written => "written",
            SwapStep::KeptAside => "kept-aside",
            SwapStep::PrivateIn => "private-in",
            SwapStep::PublicIn => "public-in",
        }
    }
}

/// Fault injection for the crash tests: with the `fuzzing` feature (which
/// the crate's own tests turn on, never a release build),
/// `VAULTID_FAULT_KILL_AT=STEP` makes the process `SIGKILL` itself at that
/// step of a key replacement. Without the feature it compiles to nothing.
mod fault {
    use super::SwapStep;

    #[cfg(feature = "fuzzing")]
    pub(super) fn at(step: SwapStep) {
        if std::env::var_os("VAULTID_FAULT_KILL_AT").is_some_and(|v| v == step.name()) {
            crate::sys::kill_self(crate::sys::SIGKILL);
            // Nothing of this process runs on once the signal lands.
            loop {
                std::thread::park();
            }
        }
    }

    #[cfg(not(feature = "fuzzing"))]
    #[inline(always)]
    pub(super) fn at(_step: SwapStep) {}
}

#[cfg(test)]
mod tests;
