//! The crate's one error type.
//!
//! Every variant says what failed and where; none of them ever carries a
//! token, a client secret or a private key. [`Error::exit_code`] maps each
//! variant onto the CLI's exit codes (see the README).
//! One rule for causes, the message and not `source()`: see [`Error`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod rejection;
pub use rejection::Rejection;

/// Which remote service an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Service {
    /// HashiCorp Vault or OpenBao.
    Vault,
    /// Ory Hydra (admin or public API).
    Hydra,
    /// Another agent, called with `vaultid call` / [`crate::signing::Caller`].
    Peer,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Vault => "Vault",
            Service::Hydra => "Hydra",
            Service::Peer => "the called agent",
        })
    }
}

/// What kind of transport failure made a server unreachable
/// ([`Error::Unreachable`]), for a caller that handles them apart: a
/// refused connection may be a server starting, a TLS failure needs an
/// operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection was refused, reset or closed before an answer.
    Connection,
    /// The host name did not resolve (no such name, no address, the
    /// resolver failed). A lookup that ran out of time is a
    /// [`TransportKind::Timeout`].
    Dns,
    /// The connect, lookup or request timeout ran out.
    Timeout,
    /// TLS failed: an untrusted certificate or one outside its validity, a
    /// wrong server name, a refused handshake.
    Tls,
    /// Anything else: a malformed URL or answer, a proxy that failed.
    Other,
}

/// Everything that can go wrong in vaultid.
///
/// One rule for causes: the message is whole. A variant that wraps a cause
/// (the [`std::io::Error`] of [`Error::Io`], the Vault failure behind
/// [`Error::WouldForkIdentity`]) says it in its message and keeps it in a
/// typed field to branch on; [`std::error::Error::source`] is `None`, so a
/// reporter that walks the chain (anyhow's `{:#}`) shows each cause once,
/// and the one line stays escaped. `std::io::Error` does the same for the
/// errors it wraps. A transport failure's kind is typed too: the `kind` of
/// [`Error::Unreachable`] is a [`TransportKind`].
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
        /// The operating system's error, also in the message (the message
        /// is whole: `source()` is `None`, see [`Error`]).
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
        method: &'static str,
        /// Path of the request (never a token or query secret).
        path: String,
        /// What kind of failure it was.
        kind: TransportKind,
        /// What the transport said.
        detail: String,
    },

    /// Vault is sealed (503 with "Vault is sealed", or `sys/health` says so).
    /// Exit code 3.
    Sealed {
        /// HTTP method of the request.
        method: &'static str,
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
        method: &'static str,
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
        method: &'static str,
        /// Path of the request.
        path: String,
    },

    /// Nothing is mounted at the start of the path (Vault answered 404 "no
    /// handler for route"): a wrong mount name, or the secrets engine is not
    /// enabled. Exit code 2.
    MountNotFound {
        /// HTTP method of the request.
        method: &'static str,
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
        method: &'static str,
        /// Path of the request.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's own error messages (Vault `errors`, Hydra
        /// `error`/`error_description` or `message`/`reason`).
        errors: Vec<String>,
    },

    /// A server's response was not what its API documents (bad JSON, a
    /// missing field). Exit code 1; counts as unavailable
    /// ([`Error::is_unavailable`]): whatever answered could not be used.
    Protocol {
        /// Which service.
        service: Service,
        /// What was wrong, and in which response.
        detail: String,
    },

    /// Vault was needed and is unavailable, and there is no safe fallback.
    /// Exit code 3.
    Unavailable(String),

    /// Vault is unavailable and the key directory holds no keys: a key
    /// generated now could fork the identity, since Vault may already hold
    /// this agent's keys, and offline generation was not allowed. Counts as
    /// unavailable ([`Error::is_unavailable`]). Exit code 3.
    WouldForkIdentity {
        /// The local key directory that holds no keys, as shown in messages.
        key_dir: String,
        /// Why Vault could not be used, also in the message (`source()` is
        /// `None`, see [`Error`]).
        cause: Box<Error>,
    },

    /// A name chosen for an environment variable (in a secret spec's
    /// `path#field=NAME` mapping, or in a template) is not a valid one
    /// (`[A-Za-z_][A-Za-z0-9_]*`). Exit code 2.
    InvalidVariableName {
        /// The name that was given.
        name: String,
        /// The secret spec it was given in, when it came from one.
        spec: Option<String>,
    },

    /// A secret's field would become an environment variable under its own
    /// name, which is not a valid variable name, and the field is neither
    /// mapped to a name nor is normalization on. Exit code 2.
    InvalidFieldName {
        /// The secret the field belongs to, as named in messages.
        secret: String,
        /// The field's name.
        field: String,
    },

    /// Two sources set the same environment variable and the later one may
    /// not override the earlier. Exit code 2.
    VariableClash {
        /// The variable.
        name: String,
        /// The source that set it first.
        first: String,
        /// The source that set it again.
        second: String,
    },

    /// The agent's OAuth2 client credentials were found neither in the local
    /// key directory nor (when Vault is configured) in Vault: the client has
    /// not been registered by the startup flow yet. Exit code 2.
    NoCredentials {
        /// The agent's DID, whose credentials were looked for.
        did: String,
        /// The local key directory that was searched.
        key_dir: PathBuf,
        /// `true` when Vault was searched too.
        vault_searched: bool,
    },

    /// A field to rotate is not in the secret and adding a missing field was
    /// not asked for (a misspelt name would otherwise add a field and leave
    /// the real one as it was). Exit code 2.
    NoFieldToRotate {
        /// The secret, as `{mount}/{path}`.
        secret: String,
        /// The field that was asked for.
        field: String,
        /// The fields the secret has (names only, never values).
        fields: Vec<String>,
    },

    /// A path read as a dynamic secret answered without a lease: it is not
    /// a dynamic secret (a KV path, for instance). Exit code 1.
    NotDynamic {
        /// The path that was read.
        path: String,
    },

    /// `error` ended an operation that first waited for the service:
    /// retries after a backoff (an election, an unreachable or sealed
    /// node, a rate limit) that did not help. `waited` says how long, how
    /// many retries and why, in one line, e.g. `waited 1.0 s over 2
    /// retries for Vault: http://10.0.0.5:8200: Connection refused`, so
    /// that the one error message holds it. The exit code,
    /// [`Error::is_unavailable`] and the hints are those of `error`
    /// ([`Error::root`]). Returned by [`crate::bootstrap::ensure`].
    AfterWaiting {
        /// The failure the waiting ended with.
        error: Box<Error>,
        /// What was waited for, one line.
        waited: String,
    },
    /// A DID-signed request was refused, or could not be signed: the
    /// typed reason says why (outside the window, malformed input, DID
    /// mismatch, signature mismatch, no key, replay). Exit code 4.
    Signature(Rejection),
}

impl Error {
    /// The error for a variable (or flag) `name` whose value is not valid
    /// UTF-8. Its bytes are never shown: the variable may hold a secret.
    pub(crate) fn not_utf8(name: &str) -> Error {
        Error::Config(format!(
            "{name} is not valid UTF-8: set it to text (its value is not shown)"
        ))
    }

    /// The CLI exit code for this error: 2 usage or configuration, 3 remote
    /// unreachable with no fallback, 4 integrity or conflict, 5 authentication
    /// or permission denied, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::AfterWaiting { error, .. } => error.exit_code(),
            Error::Config(_)
            | Error::InvalidIdentity(_)
            | Error::MountNotFound { .. }
            | Error::InvalidVariableName { .. }
            | Error::InvalidFieldName { .. }
            | Error::VariableClash { .. }
            | Error::NoCredentials { .. }
            | Error::NoFieldToRotate { .. } => 2,
            Error::Unreachable { .. }
            | Error::Sealed { .. }
            | Error::Unavailable(_)
            | Error::WouldForkIdentity { .. } => 3,
            Error::InvalidKey(_)
            | Error::Integrity(_)
            | Error::CasMismatch { .. }
            | Error::Signature(_) => 4,
            Error::PermissionDenied { .. } => 5,
            _ => 1,
        }
    }

    /// `true` when the error means the remote service could not be used at
    /// all right now (unreachable, sealed, denying, rate-limiting past the
    /// deadline, failing with a 5xx), or what answered was not a usable
    /// answer of the service (a body that is not JSON or not of the
    /// documented shape, as a captive portal or a middlebox sends: an
    /// [`Error::Protocol`]; a redirect that was not followed): the cases in
    /// which the startup flow falls back to local keys.
    pub fn is_unavailable(&self) -> bool {
        if let Error::AfterWaiting { error, .. } = self {
            return error.is_unavailable();
        }
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::Sealed { .. }
                | Error::PermissionDenied { .. }
                | Error::Protocol { .. }
                | Error::Unavailable(_)
                | Error::WouldForkIdentity { .. }
        ) || matches!(self, Error::Http { status, .. }
            if *status >= 500 || *status == 429 || (300..400).contains(status))
    }

    /// The failure itself, under the context an operation adds
    /// ([`Error::AfterWaiting`]): what to match on.
    pub fn root(&self) -> &Error {
        match self {
            Error::AfterWaiting { error, .. } => error.root(),
            other => other,
        }
    }

    /// `true` for an outage: the remote service cannot be used right now
    /// (unreachable, sealed, rate-limiting past the deadline, failing with
    /// a 5xx) and may be later without anyone acting. Unlike
    /// [`Error::is_unavailable`], a refusal ([`Error::PermissionDenied`])
    /// is not an outage: a revoked token stays revoked.
    pub(crate) fn is_outage(&self) -> bool {
        self.is_unavailable() && !matches!(self, Error::PermissionDenied { .. })
    }

    /// The error for a request a service refused with `status`: 401 and
    /// 403 are [`Error::PermissionDenied`], 404 [`Error::NotFound`],
    /// anything else [`Error::Http`]. The query is left out of the path.
    pub(crate) fn from_status(
        service: Service,
        status: u16,
        method: &'static str,
        path: &str,
        errors: Vec<String>,
    ) -> Error {
        let path = crate::util::strip_query(path).to_string();
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
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<crate::util::fs::FsError> for Error {
    fn from(e: crate::util::fs::FsError) -> Error {
        Error::io(e.context, e.source)
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
                ..
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
                    Service::Peer => "the agent refused the token or the signature",
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
                        "{path} version {version} is soft-deleted (its data is kept until it is destroyed)"
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
            Error::WouldForkIdentity { key_dir, cause } => write!(
                f,
                "no local keys in {key_dir} and Vault is unavailable ({cause}). Generating a key now could fork the \
                 identity: Vault may already hold this agent's keys. Fix Vault access and retry, or allow \
                 offline generation (VAULTID_ALLOW_OFFLINE_GENERATE=true) to accept that risk"
            ),
            Error::InvalidVariableName { name, spec } => {
                f.write_str("configuration: ")?;
                if let Some(spec) = spec {
                    write!(f, "secret spec {spec:?}: ")?;
                }
                write!(
                    f,
                    "{name:?} is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
                )
            }
            Error::InvalidFieldName { secret, field } => write!(
                f,
                "configuration: field {field:?} of {secret} is not a valid environment variable name \
                 ([A-Za-z_][A-Za-z0-9_]*); map it with {secret}#{field}=NAME or set normalization"
            ),
            Error::VariableClash {
                name,
                first,
                second,
            } => write!(
                f,
                "configuration: variable {name} is set by both {first} and {second}, and the \
                 later one may not override the earlier"
            ),
            Error::NoCredentials {
                did,
                key_dir,
                vault_searched,
            } => {
                write!(f, "configuration: no OAuth2 credentials for {did} ")?;
                if *vault_searched {
                    f.write_str("locally or in Vault")?;
                } else {
                    write!(f, "in {}", key_dir.display())?;
                }
                f.write_str("; the startup flow registers them")
            }
            Error::NoFieldToRotate {
                secret,
                field,
                fields,
            } => write!(
                f,
                "configuration: {secret} has no field {field:?} to rotate (its fields: {}); \
                 a new field is added only when asked for",
                fields.join(", ")
            ),
            Error::NotDynamic { path } => write!(
                f,
                "unexpected response from Vault: {path} returned no lease: it is not a dynamic secret"
            ),
            Error::AfterWaiting { error, waited } => write!(f, "{}; {waited}", Raw(error)),
            Error::Signature(r) => write!(f, "signature rejected ({r})"),
        }
    }
}

/// `source()` is `None` for every variant: each message already says its
/// cause (see [`Error`]).
impl std::error::Error for Error {}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Error {
        Error::Signature(r)
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
            method: "GET",
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

    fn vault_down() -> Error {
        Error::Unreachable {
            service: Service::Vault,
            method: "GET",
            path: "/v1/secret/data/x".into(),
            kind: TransportKind::Connection,
            detail: "connection refused".into(),
        }
    }

    /// Exit code, `is_unavailable` and the exact message of `e`.
    fn check(e: &Error, code: i32, unavailable: bool, shown: &str) {
        assert_eq!(e.exit_code(), code, "{e}");
        assert_eq!(e.is_unavailable(), unavailable, "{e}");
        assert_eq!(e.to_string(), shown);
    }

    #[test]
    fn refusing_to_fork_the_identity_is_unavailable_with_exit_3() {
        let e = Error::WouldForkIdentity {
            key_dir: ".bindu".into(),
            cause: Box::new(vault_down()),
        };
        check(
            &e,
            3,
            true,
            &format!(
                "no local keys in .bindu and Vault is unavailable ({}). Generating a key now \
                 could fork the identity: Vault may already hold this agent's keys. Fix Vault \
                 access and retry, or allow offline generation \
                 (VAULTID_ALLOW_OFFLINE_GENERATE=true) to accept that risk",
                vault_down()
            ),
        );
    }

    /// What a reporter that walks `source()` (anyhow's `{:#}`) prints.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }

    #[test]
    fn a_cause_is_said_once_in_the_message_and_not_again_as_the_source() {
        let os = std::io::Error::from_raw_os_error(13);
        let os_text = os.to_string();
        let io = Error::io("writing .bindu/private.pem", os);
        let fork = Error::WouldForkIdentity {
            key_dir: ".bindu".into(),
            cause: Box::new(vault_down()),
        };
        for (e, cause) in [(&io, os_text), (&fork, vault_down().to_string())] {
            assert!(e.to_string().contains(&cause), "{e}");
            assert!(std::error::Error::source(e).is_none(), "{e:?}");
            let shown = chain(e);
            assert_eq!(shown.matches(&cause).count(), 1, "{shown}");
        }
        // The typed cause stays reachable to branch on.
        match &io {
            Error::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_that_is_no_usable_answer_counts_as_unavailable() {
        let protocol = Error::Protocol {
            service: Service::Vault,
            detail: "GET secret/data/x (HTTP 200): the answer is not JSON".into(),
        };
        assert!(protocol.is_unavailable());
        assert_eq!(protocol.exit_code(), 1);
        let status = |status| Error::Http {
            service: Service::Vault,
            method: "POST",
            path: "secret/data/x".into(),
            status,
            errors: Vec::new(),
        };
        // A redirect that was not followed, a server failing, a rate limit.
        for s in [302, 307, 308, 429, 500, 503] {
            assert!(status(s).is_unavailable(), "{s}");
        }
        // A request Vault understood and refused is an answer.
        for s in [400, 404, 405, 409, 412] {
            assert!(!status(s).is_unavailable(), "{s}");
        }
    }

    #[test]
    fn what_was_waited_for_joins_the_one_message_and_changes_nothing_else() {
        let fork = || Error::WouldForkIdentity {
            key_dir: ".bindu".into(),
            cause: Box::new(vault_down()),
        };
        let e = Error::AfterWaiting {
            error: Box::new(fork()),
            waited: "waited 0.8 s over 2 retries for Vault: http://127.0.0.1:1: refused\n".into(),
        };
        check(
            &e,
            3,
            true,
            &format!(
                "{}; waited 0.8 s over 2 retries for Vault: http://127.0.0.1:1: refused\\n",
                fork()
            ),
        );
        assert!(matches!(e.root(), Error::WouldForkIdentity { .. }));
        assert!(matches!(fork().root(), Error::WouldForkIdentity { .. }));
        // The message says the failure; source() does not say it again.
        assert!(std::error::Error::source(&e).is_none());
        assert!(e.to_string().starts_with(&fork().to_string()));
    }

    #[test]
    fn invalid_variable_names_are_configuration_errors() {
        let given = Error::InvalidVariableName {
            name: "a-b".into(),
            spec: None,
        };
        check(
            &given,
            2,
            false,
            "configuration: \"a-b\" is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
        );
        let in_spec = Error::InvalidVariableName {
            name: "1BAD".into(),
            spec: Some("app#k=1BAD".into()),
        };
        check(
            &in_spec,
            2,
            false,
            "configuration: secret spec \"app#k=1BAD\": \"1BAD\" is not a valid environment \
             variable name ([A-Za-z_][A-Za-z0-9_]*)",
        );
        let field = Error::InvalidFieldName {
            secret: "secret/app".into(),
            field: "db-password".into(),
        };
        check(
            &field,
            2,
            false,
            "configuration: field \"db-password\" of secret/app is not a valid environment \
             variable name ([A-Za-z_][A-Za-z0-9_]*); map it with secret/app#db-password=NAME \
             or set normalization",
        );
    }

    #[test]
    fn a_variable_clash_is_a_configuration_error() {
        let e = Error::VariableClash {
            name: "USER".into(),
            first: "secret/a".into(),
            second: "secret/b".into(),
        };
        check(
            &e,
            2,
            false,
            "configuration: variable USER is set by both secret/a and secret/b, and the later \
             one may not override the earlier",
        );
    }

    #[test]
    fn missing_oauth2_credentials_are_a_configuration_error() {
        let local = Error::NoCredentials {
            did: "did:bindu:a:b:c".into(),
            key_dir: ".bindu".into(),
            vault_searched: false,
        };
        check(
            &local,
            2,
            false,
            "configuration: no OAuth2 credentials for did:bindu:a:b:c in .bindu; the startup \
             flow registers them",
        );
        let both = Error::NoCredentials {
            did: "did:bindu:a:b:c".into(),
            key_dir: ".bindu".into(),
            vault_searched: true,
        };
        check(
            &both,
            2,
            false,
            "configuration: no OAuth2 credentials for did:bindu:a:b:c locally or in Vault; the \
             startup flow registers them",
        );
    }

    #[test]
    fn a_missing_field_to_rotate_is_a_configuration_error() {
        let e = Error::NoFieldToRotate {
            secret: "secret/app".into(),
            field: "pasword".into(),
            fields: vec!["password".into(), "user".into()],
        };
        check(
            &e,
            2,
            false,
            "configuration: secret/app has no field \"pasword\" to rotate (its fields: password, \
             user); a new field is added only when asked for",
        );
    }

    #[test]
    fn a_static_secret_read_as_dynamic_exits_1() {
        let e = Error::NotDynamic {
            path: "secret/data/app".into(),
        };
        check(
            &e,
            1,
            false,
            "unexpected response from Vault: secret/data/app returned no lease: it is not a \
             dynamic secret",
        );
    }

    #[test]
    fn new_variants_escape_what_a_terminal_would_act_on() {
        let e = Error::VariableClash {
            name: "X\u{1b}[2J".into(),
            first: "a\nforged".into(),
            second: "b".into(),
        };
        let shown = e.to_string();
        assert!(!shown.contains(['\u{1b}', '\n']), "{shown:?}");
    }
}
