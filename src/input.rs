//! The one reader for input from outside: files named by flags and
//! variables (`kv put K=@file`, `sign --file`, `VAULT_SECRET_ID_FILE`, JWT
//! files, `~/.vault-token`, CA and client certificate files) and stdin
//! (`K=-`, `-`), FIFOs included. Every read stops at a cap: `/dev/zero` or
//! an endless pipe is an error naming the source and the cap, never an
//! ever-growing buffer. Bytes read past a refusal are zeroized.
//!
//! (Files in the key directory have their own opener with stricter rules:
//! `crate::cache::open_in_dir`.)

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::secret_string::{zeroize_bytes, SecretString};

/// Cap for data (KV values, a message to sign, a JSON object on stdin):
/// 32 MiB, Vault's own default `max_request_size`.
#[cfg(feature = "cli")]
pub(crate) const MAX_DATA: u64 = 32 * 1024 * 1024;

/// Cap for a credential file (secret id, JWT, token): 64 KiB.
pub(crate) const MAX_CREDENTIAL: u64 = 64 * 1024;

/// Cap for a PEM file (CA bundle, client certificate chain, key): 4 MiB.
pub(crate) const MAX_PEM: u64 = 4 * 1024 * 1024;

/// Where input comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    /// A file (or FIFO, or device) by path.
    File(&'a Path),
    /// Standard input.
    #[cfg(feature = "cli")]
    Stdin,
}

impl std::fmt::Display for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::File(p) => write!(f, "{}", p.display()),
            #[cfg(feature = "cli")]
            Input::Stdin => f.write_str("stdin"),
        }
    }
}

/// A size in words: `32 MiB`, `64 KiB`, `100 bytes`.
fn size(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Read all of `source`, at most `cap` bytes. `what` says what the input
/// is for (`"the value of KEY"`, `"VAULT_SECRET_ID_FILE"`) and is named in
/// errors with the source. More than `cap` bytes is an [`Error::Config`]
/// naming both; a failing open or read is an [`Error::Io`].
pub(crate) fn read(source: Input<'_>, what: &str, cap: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let result = match source {
        Input::File(p) => {
            std::fs::File::open(p).and_then(|f| f.take(cap.saturating_add(1)).read_to_end(&mut buf))
        }
        #[cfg(feature = "cli")]
        Input::Stdin => std::io::stdin()
            .lock()
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf),
    };
    if let Err(e) = result {
        zeroize_bytes(&mut buf);
        return Err(Error::io(format!("reading {what} from {source}"), e));
    }
    if buf.len() as u64 > cap {
        zeroize_bytes(&mut buf);
        return Err(Error::Config(format!(
            "{what}: {source} holds more than {} (the limit for this input); \
             is it the right file?",
            size(cap)
        )));
    }
    Ok(buf)
}

/// [`read`] as UTF-8 text.
pub(crate) fn read_text(source: Input<'_>, what: &str, cap: u64) -> Result<String> {
    let bytes = read(source, what, cap)?;
    String::from_utf8(bytes).map_err(|e| {
        let mut b = e.into_bytes();
        zeroize_bytes(&mut b);
        Error::Config(format!("{what}: {source} is not UTF-8 text"))
    })
}

/// A secret from a file ([`MAX_CREDENTIAL`]), surrounding whitespace
/// trimmed; an empty one is an error.
pub(crate) fn read_secret(path: &Path, what: &str) -> Result<SecretString> {
    let mut raw = read_text(Input::File(path), what, MAX_CREDENTIAL)?;
    let s = SecretString::new(raw.trim());
    crate::secret_string::zeroize_string(&mut raw);
    if s.is_empty() {
        return Err(Error::Config(format!(
            "{what}: {} is empty",
            path.display()
        )));
    }
    Ok(s)
}

/// Read one line typed on the terminal that is stdin, without echoing
/// it, after writing `prompt` on stderr (`login -method=userpass` asking
/// for a password, as `bao login` does). Echo is turned off for the read
/// and restored after it, errors included. At most [`MAX_CREDENTIAL`]
/// bytes; the line ending is dropped. An [`Error::Config`] when stdin is
/// not a terminal, or where turning echo off is not supported.
#[cfg(feature = "cli")]
pub(crate) fn read_hidden_line(prompt: &str, what: &str) -> Result<SecretString> {
    use std::io::{IsTerminal, Write};
    use std::os::fd::AsFd;
    if !std::io::stdin().is_terminal() {
        return Err(Error::Config(format!(
            "{what}: stdin is not a terminal to ask on"
        )));
    }
    let _echo_off = crate::sys::EchoOff::new(std::io::stdin().as_fd()).ok_or_else(|| {
        Error::Config(format!(
            "{what}: cannot turn off echo on this terminal, so it is not asked for; give it on stdin or as an argument"
        ))
    })?;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let mut stdin = std::io::stdin().lock();
    let result = loop {
        match stdin.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) if line.len() as u64 >= MAX_CREDENTIAL => {
                break Err(Error::Config(format!(
                    "{what}: more than {} typed",
                    size(MAX_CREDENTIAL)
                )))
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(Error::io(format!("reading {what} from the terminal"), e)),
        }
    };
    let _ = err.write_all(b"\n");
    if let Err(e) = result {
        zeroize_bytes(&mut line);
        return Err(e);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    match String::from_utf8(line) {
        Ok(mut text) => {
            let s = SecretString::new(text.as_str());
            crate::secret_string::zeroize_string(&mut text);
            Ok(s)
        }
        Err(e) => {
            let mut b = e.into_bytes();
            zeroize_bytes(&mut b);
            Err(Error::Config(format!(
                "{what}: the terminal input is not UTF-8"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_and_oversized_inputs_stop_at_the_cap() {
        let t = std::time::Instant::now();
        let e = read(Input::File(Path::new("/dev/zero")), "the value of K", 1024)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("1 KiB") && e.contains("value of K"),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        let e = read_secret(Path::new("/dev/zero"), "VAULT_SECRET_ID_FILE")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VAULT_SECRET_ID_FILE") && e.contains("64 KiB"),
            "{e}"
        );
    }

    #[test]
    fn files_within_the_cap_are_read_whole() {
        let p = std::env::temp_dir().join(format!("vaultid-input-{}", std::process::id()));
        std::fs::write(&p, "  s3cret\n").unwrap();
        assert_eq!(read_secret(&p, "X").unwrap().expose(), "s3cret");
        assert_eq!(read(Input::File(&p), "X", 9).unwrap().len(), 9);
        assert!(read(Input::File(&p), "X", 8).is_err());
        std::fs::write(&p, " \n").unwrap();
        assert!(read_secret(&p, "X")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(read_text(Input::File(&p), "X", 10).is_err());
        std::fs::remove_file(&p).unwrap();
        let e = read(Input::File(Path::new("/nonexistent/x")), "X", 1).unwrap_err();
        assert_eq!(e.exit_code(), 1, "{e}");
    }
}
