//! Rotate one field of a KV v2 secret without losing anybody's update.
//!
//! [`rotate`] reads the latest version, writes a new version in which only
//! the one field changed, and sends `cas` = the version it read. When
//! another writer got in between, Vault refuses the write
//! ([`Error::CasMismatch`]); rotate then reads again and retries on top of
//! the other writer's version, a few times. A concurrent writer's change is
//! therefore never overwritten: each successful rotation is its own version
//! built on the one before it.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result, Service};
use crate::secret_string::SecretString;
use crate::util::random::random_secret_urlsafe;
use crate::vault::Client;

/// Default number of random bytes in a generated value.
pub(crate) const DEFAULT_RANDOM_BYTES: usize = 32;
/// Largest number of random bytes accepted.
pub(crate) const MAX_RANDOM_BYTES: usize = 4096;
/// Default number of write attempts (the first and the retries after a
/// check-and-set conflict).
pub(crate) const DEFAULT_ATTEMPTS: u32 = 5;

/// The new value of the field.
#[derive(Debug, Clone)]
pub enum NewValue {
    /// This value.
    Given(SecretString),
    /// `n` bytes from the operating system's generator, as URL-safe base64
    /// without padding.
    Random(usize),
}

impl Default for NewValue {
    fn default() -> Self {
        NewValue::Random(DEFAULT_RANDOM_BYTES)
    }
}

impl NewValue {
    /// The value to write (a fresh one for `Random`).
    pub(crate) fn produce(&self) -> Result<SecretString> {
        match self {
            NewValue::Given(v) => Ok(v.clone()),
            NewValue::Random(n) if *n == 0 || *n > MAX_RANDOM_BYTES => Err(Error::Config(format!(
                "random length {n} is out of range 1..={MAX_RANDOM_BYTES}"
            ))),
            NewValue::Random(n) => Ok(SecretString::new(random_secret_urlsafe(*n))),
        }
    }
}

/// What a rotation wrote.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// `{mount}/{path}`.
    pub path: String,
    /// The field that changed.
    pub key: String,
    /// The version written.
    pub version: u64,
    /// The version it was built on.
    pub previous_version: u64,
    /// How many check-and-set conflicts were retried.
    pub conflicts: u32,
    /// The new value.
    pub value: SecretString,
}

/// Set field `key` of the secret at `path` in the KV v2 `mount` to a new
/// value, keeping every other field of the latest version, with
/// check-and-set. Up to `attempts` writes are tried (at least one).
///
/// The secret must exist ([`Error::NotFound`] otherwise) and so must the
/// field unless `add_missing` is set: a misspelt field name would otherwise
/// add a field and leave the real one as it was
/// ([`Error::NoFieldToRotate`]). After `attempts` conflicts the last
/// [`Error::CasMismatch`] is returned.
pub fn rotate_field(
    client: &Client,
    mount: &str,
    path: &str,
    key: &str,
    value: &NewValue,
    attempts: u32,
    add_missing: bool,
) -> Result<Rotated> {
    if key.is_empty() {
        return Err(Error::Config("rotate: the field name is empty".into()));
    }
    let kv = client.kv2(mount);
    let label = format!("{}/{}", kv.mount(), path.trim_matches('/'));
    let new_value = value.produce()?;
    let attempts = attempts.max(1);
    let mut conflicts = 0;
    // After a conflict, the version that lost: the next read waits until a
    // node shows a newer one (a standby may lag behind the winner's write).
    let mut lost: Option<u64> = None;
    loop {
        let current = match lost {
            Some(v) => kv.read_after_conflict(path, Some(v))?,
            None => kv.read(path, None)?,
        };
        let current = current.ok_or_else(|| Error::NotFound {
            service: Service::Vault,
            method: "GET",
            path: label.clone(),
        })?;
        let read_version = current.metadata.version;
        if !add_missing && !current.data.contains_key(key) {
            return Err(Error::NoFieldToRotate {
                secret: label,
                field: key.to_string(),
                fields: current.data.keys().cloned().collect(),
            });
        }
        let mut data = current.data.clone();
        data.insert(
            key.to_string(),
            Value::String(new_value.expose().to_string()),
        );
        let written = kv.write(path, &data, Some(read_version));
        if let Some(Value::String(s)) = data.get_mut(key) {
            crate::secret_string::zeroize_string(s);
        }
        match written {
            Ok(meta) => {
                return Ok(Rotated {
                    path: label,
                    key: key.to_string(),
                    version: meta.version,
                    previous_version: read_version,
                    conflicts,
                    value: new_value,
                })
            }
            Err(Error::CasMismatch { .. }) if conflicts + 1 < attempts => {
                conflicts += 1;
                lost = Some(read_version);
                log::info!(
                    "{label}: version {read_version} changed under us (conflict {conflicts}); reading again"
                );
                std::thread::sleep(conflict_pause(conflicts));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A short, growing, jittered pause between conflicting attempts, so two
/// rotators do not keep colliding in lockstep.
fn conflict_pause(n: u32) -> Duration {
    let base = 20u64 * u64::from(n.min(8));
    Duration::from_millis(base + crate::util::random::jitter_below(base.max(1)))
}
