//! Transport failures, sorted: what a ureq error counts as for retrying
//! ([`classify`] into a [`Failure`]), which [`TransportKind`] an
//! [`Error::Unreachable`](crate::Error::Unreachable) reports, and the short
//! description it carries (certificate validity read against the clock).

use super::{clock, resolve};
use crate::error::TransportKind;

/// How a transport failure counts for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection failed before an answer: refused, reset, closed,
    /// name not resolved.
    Connection,
    /// The connect or overall timeout ran out.
    Timeout,
    /// TLS failed: untrusted certificate, wrong name, handshake refused.
    Tls,
    /// Anything else (a malformed URL or answer).
    Other,
}

/// Sort a ureq error into a [`Failure`].
pub(super) fn classify(e: &ureq::Error) -> Failure {
    match e {
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => Failure::Tls,
        ureq::Error::Io(io) if tls_error(io).is_some() => Failure::Tls,
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Failure::Timeout
        }
        ureq::Error::Io(_) | ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            Failure::Connection
        }
        _ => Failure::Other,
    }
}

/// The kind of a transport failure, as [`Error::Unreachable`] reports it:
/// [`classify`]'s sorting, with a name that did not resolve told apart
/// from a refused connection.
pub(super) fn transport_kind(e: &ureq::Error) -> TransportKind {
    match classify(e) {
        Failure::Connection if resolve::is_lookup_failure(e) => TransportKind::Dns,
        Failure::Connection => TransportKind::Connection,
        Failure::Timeout => TransportKind::Timeout,
        Failure::Tls => TransportKind::Tls,
        Failure::Other => TransportKind::Other,
    }
}

/// `true` when a connection could not even be set up in time.
pub(super) fn connect_timeout(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
    )
}

fn tls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A short description of a transport error, for [`Error::Unreachable`].
pub(super) fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Rustls(t) => clock::validity_error(t).unwrap_or_else(|| format!("TLS: {t}")),
        ureq::Error::Io(io) => match tls_error(io) {
            Some(t) => clock::validity_error(t).unwrap_or_else(|| format!("TLS: {t}")),
            None => format!("{io}"),
        },
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found (DNS)".to_string(),
        other => other.to_string(),
    }
}
