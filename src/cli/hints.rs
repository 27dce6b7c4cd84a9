//! What to do next, for errors the library reports as facts: the CLI's
//! flags and commands that fix them. The library never names them.

use vaultid::Error;

/// A hint naming the flag or command that helps with `e`, if one does.
pub fn hint(e: &Error) -> Option<String> {
    let msg = e.to_string();
    match e {
        Error::VersionDeleted {
            path,
            version,
            destroyed: false,
        } => Some(format!(
            "`vaultid kv undelete {path} --versions {version}` restores it"
        )),
        Error::Unavailable(_) if msg.contains("could fork the identity") => {
            Some("or pass --allow-offline-generate to accept that risk".into())
        }
        Error::Config(_) if msg.contains("is not a valid environment variable name") => {
            Some("or pass --normalize".into())
        }
        Error::Config(_) if msg.contains("and the later one may not override the earlier") => {
            Some("pass --override to let the later one win".into())
        }
        Error::Config(_) if msg.starts_with("configuration: no OAuth2 credentials for") => {
            Some("run `vaultid up` first".into())
        }
        Error::MountNotFound { .. } => Some(
            "check the mount name (the path's first segment, -mount or VAULT_KV_MOUNT) \
             against `bao secrets list`"
                .into(),
        ),
        Error::Protocol { .. } if msg.contains("it is not a dynamic secret") => {
            Some("use a KV path without --dynamic".into())
        }
        _ => None,
    }
}

/// The error line: the library's message, then the hint.
pub fn with_hint(e: &Error) -> String {
    match hint(e) {
        Some(h) => format!("{e}; {h}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clash_between_two_specs_names_the_override_flag() {
        let e = Error::Config(
            "variable USER is set by both a and b, and the later one may not override the earlier"
                .into(),
        );
        let line = with_hint(&e);
        assert!(
            line.ends_with("pass --override to let the later one win"),
            "{line}"
        );
        assert!(
            !e.to_string().contains("--"),
            "the library names no flag: {e}"
        );
    }
}
