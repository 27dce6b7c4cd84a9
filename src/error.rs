//! The crate's one error type.
//!
//! Every variant says what failed and where; none of them ever carries a
//! token, a client secret or a private key. [`Error::exit_code`] maps each
//! variant onto the CLI's exit codes (see the README).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which remote service an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// HashiCorp Vault or OpenBao.
    Vault,
    /// Ory Hydra (admin or public API).
    Hydra,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Vault => "Vault",
            Service::Hydra => "Hydra",
        })
    }
}

/// Everything that can go wrong in vaultid.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A command-line argument or configuration value is missing or unparsable.
    /// The message names the flag or environment variable. Exit code 2.
    Config(String),

    /// Author, agent name, agent id or DID is not acceptable (empty, holds a
    /// `:`, `/`, control character or `..` segment, not a UUID, ...). Exit code 2.
    InvalidIdentity(String),

    /// Key material could not be decoded: bad PEM armour, bad base64, a key
    /// type other than Ed25519, an encrypted key, wrong lengths. Exit code 4.
    InvalidKey(String),

    /// Two things that must agree do not: a public key that does not belong to
    /// its private key, a stored DID that differs from the computed one, a
    /// signature that does not verify. Exit code 4.
    Integrity(String),

    /// A local file operation failed. `context` says what was being done to
    /// which path. Exit code 1.
    Io {
        /// What was being done, with the path, e.g. `writing .bindu/private.pem`.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The startup lock could not be taken in time: another process held it.
    /// Exit code 1.
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },

    /// The server could not be reached: connection refused, DNS failure,
    /// timeout, TLS handshake failure. Exit code 3.
    Unreachable {
        /// Which service.
        service: Service,
        /// HTTP method of the request.
        method: String,
        /// Path of the request (never a token or query secret).
        path: String,
        /// What the transport said.
        detail: String,
    },

    /// Vault is sealed (503 with "Vault is sealed", or `sys/health` says so).
    /// Exit code 3.
    Sealed {
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
    },

    /// The server refused: 401 or 403 (missing, expired or under-privileged
    /// token, wrong client secret), or a login was refused (Vault answers
    /// 400 to a wrong AppRole secret id). Exit code 5.
    PermissionDenied {
        /// Which service.
        service: Service,
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// HTTP status (401 or 403).
        status: u16,
        /// The server's own error messages.
        errors: Vec<String>,
    },

    /// The path does not exist (404). Exit code 1.
    NotFound {
        /// Which service.
        service: Service,
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
    },

    /// Nothing is mounted at the start of the path (Vault answered 404 "no
    /// handler for route"): a wrong mount name, or the secrets engine is not
    /// enabled. Exit code 2.
    MountNotFound {
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
    },

    /// A KV v2 check-and-set write lost: the secret's current version is not
    /// the one given as `cas`. Another writer got there first. Exit code 4.
    CasMismatch {
        /// The KV path written.
        path: String,
        /// The `cas` version that was sent.
        cas: Option<u64>,
    },

    /// The requested KV v2 version exists but was soft-deleted or destroyed.
    /// Exit code 1.
    VersionDeleted {
        /// The KV path read.
        path: String,
        /// The version that was asked for (or the latest).
        version: u64,
        /// `true` when destroyed (gone for good), `false` when soft-deleted
        /// (can be undeleted).
        destroyed: bool,
    },

    /// Any other non-success HTTP status. Exit code 1.
    Http {
        /// Which service.
        service: Service,
        /// HTTP method of the request.
        method: String,
        /// Path of the request.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's own error messages (Vault `errors`, Hydra
        /// `error`/`error_description` or `message`/`reason`).
        errors: Vec<String>,
    },

    /// A server's response was not what its API documents (bad JSON, a
    /// missing field). Exit code 1.
    Protocol {
        /// Which service.
        service: Service,
        /// What was wrong, and in which response.
        detail: String,
    },

    /// Vault was needed and is unavailable, and there is no safe fallback
    /// (e.g. no local keys and generating would fork the identity). Exit code 3.
    Unavailable(String),
}

impl Error {
    /// The CLI exit code for this error: 2 usage or configuration, 3 remote
    /// unreachable with no fallback, 4 integrity or conflict, 5 authentication
    /// or permission denied, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::InvalidIdentity(_) | Error::MountNotFound { .. } => 2,
            Error::Unreachable { .. } | Error::Sealed { .. } | Error::Unavailable(_) => 3,
            Error::InvalidKey(_) | Error::Integrity(_) | Error::CasMismatch { .. } => 4,
            Error::PermissionDenied { .. } => 5,
            _ => 1,
        }
    }

    /// `true` when the error means the remote service could not be used at
    /// all right now (unreachable, sealed, denying, rate-limiting past the
    /// deadline, failing with a 5xx): the cases in which the startup flow
    /// falls back to local keys.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::Sealed { .. }
                | Error::PermissionDenied { .. }
                | Error::Unavailable(_)
        ) || matches!(self, Error::Http { status, .. } if *status >= 500 || *status == 429)
    }

    /// The error for a request a service refused with `status`: 401 and
    /// 403 are [`Error::PermissionDenied`], 404 [`Error::NotFound`],
    /// anything else [`Error::Http`]. The query is left out of the path.
    pub(crate) fn from_status(
        service: Service,
        status: u16,
        method: &str,
        path: &str,
        errors: Vec<String>,
    ) -> Error {
        let (method, path) = (
            method.to_string(),
            crate::util::strip_query(path).to_string(),
        );
        match status {
            401 | 403 => Error::PermissionDenied {
                service,
                method,
                path,
                status,
                errors,
            },
            404 => Error::NotFound {
                service,
                method,
                path,
            },
            status => Error::Http {
                service,
                method,
                path,
                status,
                errors,
            },
        }
    }

    /// Build an [`Error::Io`] from a context string and an I/O error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

fn join(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

/// Every message is one line with nothing a terminal would act on: text
/// from a server (its `errors`, an excerpt of its body) or from a file name
/// may hold ANSI escapes, CR/LF (forged log lines) or bidi controls; they
/// are shown escaped (`\u{1b}`, `\n`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = Raw(self).to_string();
        f.write_str(&crate::util::escape_invisible(&raw))
    }
}

/// The message as composed, before [`crate::util::escape_invisible`].
struct Raw<'a>(&'a Error);

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Config(m) => write!(f, "configuration: {m}"),
            Error::InvalidIdentity(m) => write!(f, "invalid identity: {m}"),
            Error::InvalidKey(m) => write!(f, "invalid key: {m}"),
            Error::Integrity(m) => write!(f, "integrity: {m}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::LockTimeout { path, waited } => write!(
                f,
                "could not take the lock {} within {:.1}s: another vaultid process holds it; \
                 wait for it to finish or raise VAULTID_LOCK_TIMEOUT",
                path.display(),
                waited.as_secs_f64()
            ),
            Error::Unreachable {
                service,
                method,
                path,
                detail,
            } => write!(
                f,
                "{service} unreachable ({method} {path}): {detail}; check the address and that the server is running"
            ),
            Error::Sealed { method, path } => write!(
                f,
                "Vault is sealed ({method} {path}): unseal it (bao/vault operator unseal) and retry"
            ),
            Error::PermissionDenied {
                service,
                method,
                path,
                status,
                errors,
            } => {
                let advice = match service {
                    Service::Vault if path.ends_with("/login") || path.contains("wrapping/unwrap") => {
                        "login refused: check the role and the credentials (role id, secret id, JWT) given to it"
                    }
                    Service::Vault => "check the token and the policy for this path",
                    Service::Hydra => "check the OAuth2 client id and secret, or the admin API's access rules",
                };
                write!(
                    f,
                    "{service} permission denied ({method} {path}, HTTP {status}){}; {advice}",
                    join(errors)
                )
            }
            Error::NotFound {
                service,
                method,
                path,
            } => write!(f, "{service}: not found ({method} {path})"),
            Error::MountNotFound { method, path } => write!(
                f,
                "Vault: mount does not exist ({method} {path}): no secrets engine is mounted there"
            ),
            Error::CasMismatch { path, cas } => match cas {
                Some(v) => write!(
                    f,
                    "check-and-set conflict writing {path} (cas={v}): another writer changed it first; read it again and retry"
                ),
                None => write!(
                    f,
                    "check-and-set required or failed writing {path}: read the current version and retry with cas"
                ),
            },
            Error::VersionDeleted {
                path,
                version,
                destroyed,
            } => {
                if *destroyed {
                    write!(f, "{path} version {version} was destroyed and cannot be recovered")
                } else {
                    write!(
                        f,
                        "{path} version {version} is soft-deleted; undeleting the version restores it"
                    )
                }
            }
            Error::Http {
                service,
                method,
                path,
                status,
                errors,
            } => write!(f, "{service} {method} {path} failed with HTTP {status}{}", join(errors)),
            Error::Protocol { service, detail } => {
                write!(f, "unexpected response from {service}: {detail}")
            }
            Error::Unavailable(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_shown_on_one_line_without_escapes_acting() {
        let e = Error::Http {
            service: Service::Vault,
            method: "GET".into(),
            path: "secret/data/x".into(),
            status: 500,
            errors: vec!["\u{1b}[31mred\r\nvaultid: info: forged line\u{202e}".into()],
        };
        let shown = e.to_string();
        assert!(
            !shown.contains(['\u{1b}', '\r', '\n', '\u{202e}']),
            "{shown:?}"
        );
        assert!(
            shown.contains("\\u{1b}[31mred\\r\\nvaultid: info: forged line"),
            "{shown}"
        );
    }
}
