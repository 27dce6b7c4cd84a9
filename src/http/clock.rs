//! Certificate validity failures read against the system clock.
//!
//! A board without a battery-backed clock boots in 1970 (or wherever its
//! image was built) until NTP syncs, and every TLS handshake then fails on
//! a certificate that is "not valid yet". rustls reports the time it
//! checked against; [`validity_error`] words such a failure so that it
//! says what the clock reads and that the clock, not the server, is the
//! likely fault.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls::{CertificateError, Error as TlsError};

use crate::util::time::format_iso8601;

/// The description of a certificate validity failure (not valid yet, or
/// expired) naming the system clock's reading, or `None` for any other
/// TLS error.
pub(crate) fn validity_error(e: &TlsError) -> Option<String> {
    let TlsError::InvalidCertificate(cert) = e else {
        return None;
    };
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let (what, clock) = match cert {
        CertificateError::NotValidYetContext { time, not_before } => (
            format!(
                "the server's certificate is not valid before {}",
                utc(not_before.as_secs())
            ),
            time.as_secs(),
        ),
        CertificateError::NotValidYet => (
            "the server's certificate is not valid yet".to_string(),
            now(),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            format!(
                "the server's certificate expired at {}",
                utc(not_after.as_secs())
            ),
            time.as_secs(),
        ),
        CertificateError::Expired => ("the server's certificate has expired".to_string(), now()),
        _ => return None,
    };
    Some(format!(
        "TLS: {what}, and this system's clock reads {}: the clock is probably wrong \
         (set it, e.g. by NTP, and try again); if the clock is right, the certificate \
         must be replaced",
        utc(clock)
    ))
}

fn utc(unix_secs: u64) -> String {
    format_iso8601(unix_secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    #[test]
    fn not_valid_yet_names_the_clock_and_the_start() {
        let e = TlsError::InvalidCertificate(CertificateError::NotValidYetContext {
            time: at(133),
            not_before: at(1_700_000_000),
        });
        let m = validity_error(&e).unwrap();
        assert!(m.contains("clock reads 1970-01-01T00:02:13+00:00"), "{m}");
        assert!(
            m.contains("not valid before 2023-11-14T22:13:20+00:00"),
            "{m}"
        );
        assert!(m.contains("probably wrong"), "{m}");
    }

    #[test]
    fn expired_names_the_clock_and_the_end() {
        let e = TlsError::InvalidCertificate(CertificateError::ExpiredContext {
            time: at(4_102_444_800),
            not_after: at(1_700_000_000),
        });
        let m = validity_error(&e).unwrap();
        assert!(m.contains("clock reads 2100-01-01T00:00:00+00:00"), "{m}");
        assert!(m.contains("expired at 2023-11-14T22:13:20+00:00"), "{m}");
    }

    #[test]
    fn bare_variants_read_the_clock_now() {
        for c in [CertificateError::Expired, CertificateError::NotValidYet] {
            let m = validity_error(&TlsError::InvalidCertificate(c)).unwrap();
            assert!(m.contains("clock reads 20"), "{m}");
        }
    }

    #[test]
    fn other_tls_errors_are_left_alone() {
        assert_eq!(
            validity_error(&TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            None
        );
        assert_eq!(validity_error(&TlsError::DecryptError), None);
    }
}
