//! What to do next, for errors the library reports as facts: the CLI's
//! flags and commands that fix them. The library never names them.

use crate::{Error, Service};

/// A hint naming the flag or command that helps with `e`, if one does.
pub(crate) fn hint(e: &Error) -> Option<String> {
    match e.root() {
        Error::VersionDeleted {
            path,
            version,
            destroyed: false,
        } => Some(format!(
            "`vaultid kv undelete {path} --versions {version}` restores it"
        )),
        Error::WouldForkIdentity { .. } => {
            Some("or pass --allow-offline-generate to accept that risk".into())
        }
        Error::InvalidFieldName { .. } => Some("or pass --normalize".into()),
        Error::VariableClash { .. } => Some("pass --override to let the later one win".into()),
        Error::NoCredentials { .. } => Some("run `vaultid up` first".into()),
        Error::MountNotFound { .. } => Some(
            "check the mount name (the path's first segment, -mount or VAULT_KV_MOUNT) \
             against `bao secrets list`"
                .into(),
        ),
        Error::NoFieldToRotate { .. } => Some("check the name, or pass --create to add it".into()),
        Error::NotDynamic { .. } => Some("use a KV path without --dynamic".into()),
        // The HTTP layer hands a 307/308 up only when it did not follow it.
        Error::Http {
            service,
            status: 307 | 308,
            ..
        } => Some(format!(
            "the redirect was not followed: a body, or the token over http, goes only to \
             the configured addresses (same scheme, host and port); {}",
            match service {
                Service::Vault => {
                    "list every node in VAULTID_VAULT_ADDRS, or point VAULT_ADDR at the active node"
                }
                Service::Hydra =>
                    "point HYDRA__ADMIN_URL or HYDRA__PUBLIC_URL at the server itself",
                Service::Peer => "call the agent at the address it redirects to",
            }
        )),
        Error::Signature(crate::signing::Rejection::KeyUnavailable { .. }) => Some(
            "`vaultid up` as that agent registers its key in the Hydra client's metadata".into(),
        ),
        Error::Signature(crate::signing::Rejection::SignatureMismatch) => Some(
            "sign the exact bytes that are sent (`vaultid sign-request --file BODY`), or send \
             with `vaultid call`, which does"
                .into(),
        ),
        _ => None,
    }
}

/// The error line: the library's message, then the hint (before what was
/// waited for, which closes the line).
pub(crate) fn with_hint(e: &Error) -> String {
    if let Error::AfterWaiting { error, waited } = e {
        return format!("{}; {}", with_hint(error), crate::escape_invisible(waited));
    }
    let msg = whole(e);
    match hint(e) {
        Some(h) => format!("{msg}; {h}"),
        None => msg,
    }
}

/// `e`'s message followed by each cause down its `source()` chain, joined
/// by `: `. The crate's own errors say their cause in the message and have
/// no source (see `crate::error`), so for them this is the message; an
/// error that keeps its cause only as a source still shows all of it.
pub(crate) fn whole(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_every_cause_once() {
        // The crate's errors: the message, whole.
        let io = Error::io(
            "writing .bindu/private.pem",
            std::io::Error::from_raw_os_error(13),
        );
        assert_eq!(whole(&io), io.to_string());
        assert_eq!(
            with_hint(&io).matches("os error 13").count(),
            1,
            "{}",
            with_hint(&io)
        );
        // An error that keeps its cause only as a source.
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("reading the file")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(whole(&e), "reading the file: disk on fire");
    }
    use crate::Service;

    /// The line ends with `hint`, and the library's own message names no flag.
    fn assert_hint(e: Error, hint: &str) {
        let line = with_hint(&e);
        let msg = e.to_string();
        assert_eq!(line, format!("{msg}; {hint}"));
        assert!(!msg.contains("--"), "the library names no flag: {msg}");
    }

    #[test]
    fn a_soft_deleted_version_names_the_undelete_command() {
        assert_hint(
            Error::VersionDeleted {
                path: "app/db".into(),
                version: 3,
                destroyed: false,
            },
            "`vaultid kv undelete app/db --versions 3` restores it",
        );
        let destroyed = Error::VersionDeleted {
            path: "app/db".into(),
            version: 3,
            destroyed: true,
        };
        assert_eq!(hint(&destroyed), None);
    }

    #[test]
    fn the_soft_deleted_line_says_once_how_to_restore_it() {
        let line = with_hint(&Error::VersionDeleted {
            path: "secret/s".into(),
            version: 2,
            destroyed: false,
        });
        assert_eq!(
            line,
            "secret/s version 2 is soft-deleted (its data is kept until it is destroyed); \
             `vaultid kv undelete secret/s --versions 2` restores it"
        );
        assert_eq!(line.matches("restore").count(), 1, "{line}");
        assert_eq!(line.matches("undelet").count(), 1, "{line}");
    }

    #[test]
    fn refusing_to_fork_the_identity_names_the_offline_generate_flag() {
        assert_hint(
            Error::WouldForkIdentity {
                key_dir: ".bindu".into(),
                cause: Box::new(Error::Unreachable {
                    service: Service::Vault,
                    method: "GET",
                    path: "/v1/secret/data/x".into(),
                    kind: crate::TransportKind::Connection,
                    detail: "connection refused".into(),
                }),
            },
            "or pass --allow-offline-generate to accept that risk",
        );
    }

    #[test]
    fn the_hint_comes_before_what_was_waited_for() {
        let e = Error::AfterWaiting {
            error: Box::new(Error::WouldForkIdentity {
                key_dir: ".bindu".into(),
                cause: Box::new(Error::Unavailable("Vault down".into())),
            }),
            waited: "waited 0.5 s over 1 retries for Vault: x".into(),
        };
        let line = with_hint(&e);
        assert!(
            line.ends_with(
                "to accept that risk; or pass --allow-offline-generate to accept that risk; \
                 waited 0.5 s over 1 retries for Vault: x"
            ),
            "{line}"
        );
    }

    #[test]
    fn a_redirect_not_followed_names_the_node_list() {
        let e = |service, status| Error::Http {
            service,
            method: "POST",
            path: "secret/data/x".into(),
            status,
            errors: Vec::new(),
        };
        let line = with_hint(&e(Service::Vault, 307));
        assert!(
            line.contains("HTTP 307; the redirect was not followed"),
            "{line}"
        );
        assert!(line.contains("VAULTID_VAULT_ADDRS"), "{line}");
        assert!(with_hint(&e(Service::Hydra, 308)).contains("HYDRA__ADMIN_URL"));
        assert_eq!(hint(&e(Service::Vault, 302)), None);
    }

    #[test]
    fn a_field_name_that_is_no_variable_name_names_the_normalize_flag() {
        assert_hint(
            Error::InvalidFieldName {
                secret: "secret/app".into(),
                field: "db-password".into(),
            },
            "or pass --normalize",
        );
    }

    #[test]
    fn a_bad_name_given_by_hand_gets_no_normalize_hint() {
        // Normalization renames fields, never a name that was written out.
        for spec in [None, Some("app#k=1BAD".to_string())] {
            let e = Error::InvalidVariableName {
                name: "1BAD".into(),
                spec,
            };
            assert_eq!(hint(&e), None, "{e}");
        }
    }

    #[test]
    fn a_clash_between_two_specs_names_the_override_flag() {
        assert_hint(
            Error::VariableClash {
                name: "USER".into(),
                first: "a".into(),
                second: "b".into(),
            },
            "pass --override to let the later one win",
        );
    }

    #[test]
    fn missing_oauth2_credentials_name_the_up_command() {
        for vault_searched in [false, true] {
            assert_hint(
                Error::NoCredentials {
                    did: "did:bindu:a:b:c".into(),
                    key_dir: ".bindu".into(),
                    vault_searched,
                },
                "run `vaultid up` first",
            );
        }
    }

    #[test]
    fn a_missing_mount_names_the_mount_option() {
        assert_hint(
            Error::MountNotFound {
                method: "GET",
                path: "/v1/nope/data/x".into(),
            },
            "check the mount name (the path's first segment, -mount or VAULT_KV_MOUNT) \
             against `bao secrets list`",
        );
    }

    #[test]
    fn a_missing_field_to_rotate_names_the_create_flag() {
        assert_hint(
            Error::NoFieldToRotate {
                secret: "secret/app".into(),
                field: "pasword".into(),
                fields: vec!["password".into()],
            },
            "check the name, or pass --create to add it",
        );
    }

    #[test]
    fn a_static_secret_read_as_dynamic_names_the_dynamic_flag() {
        assert_hint(
            Error::NotDynamic {
                path: "secret/data/app".into(),
            },
            "use a KV path without --dynamic",
        );
    }

    #[test]
    fn other_errors_get_no_hint() {
        let e = Error::Config("VAULT_ADDR is not set".into());
        assert_eq!(with_hint(&e), e.to_string());
    }
}
