//! TLS for [`HttpClient`](super::HttpClient): a rustls connector for ureq's
//! connector chain, built from a [`TlsConfig`].
//!
//! ureq's own rustls connector verifies the certificate against the URL's
//! host and cannot be told another name; this one can (`server_name`), and
//! it also carries the CA, client certificate and skip-verify settings.
//!
//! - Trust: the webpki roots by default; `ca_cert` (a PEM file) and
//!   `ca_path` (a directory of PEM files) replace them.
//! - mTLS: `client_cert` (PEM chain) with `client_key` (PEM, PKCS#8, PKCS#1
//!   or SEC1).
//! - `server_name`: sent as SNI and verified against the certificate instead
//!   of the URL's host.
//! - `skip_verify`: accept any certificate (a warning is logged each time a
//!   client is built this way).

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

use super::TlsConfig;
use crate::error::{Error, Result, Service};
use crate::secret_string::zeroize_bytes;

/// The whole connector chain: CONNECT proxy (when the request's
/// [`ProxyPolicy`](super::ProxyPolicy) names one), TCP,
/// then TLS for `https` URLs.
///
/// With `https_expected` false and the default settings (built-in roots,
/// no client certificate, verification on), the rustls configuration is
/// built on the first `https` connection (a redirect to an `https` node),
/// not here: a client of `http://` addresses never builds it. Settings
/// that name files, or skip verification, are always read here, so their
/// errors and warnings come when the client is built, whatever the URL.
pub(crate) fn connector(
    service: Service,
    tls: &TlsConfig,
    https_expected: bool,
) -> Result<impl Connector> {
    let tls = TlsConnector::for_urls(service, tls, https_expected)?;
    Ok(
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(tls),
    )
}

/// Names of the settings, for error messages.
fn setting(service: Service, which: &str) -> String {
    match service {
        Service::Vault | Service::Peer => match which {
            "ca_cert" => "VAULT_CACERT".into(),
            "ca_path" => "VAULT_CAPATH".into(),
            "client_cert" => "VAULT_CLIENT_CERT".into(),
            "client_key" => "VAULT_CLIENT_KEY".into(),
            "server_name" => "VAULT_TLS_SERVER_NAME".into(),
            other => other.into(),
        },
        Service::Hydra => format!("Hydra TLS {which}"),
    }
}

fn config_error(service: Service, which: &str, path: &Path, what: impl fmt::Display) -> Error {
    Error::Config(format!(
        "{}={}: {what}",
        setting(service, which),
        path.display()
    ))
}

/// Settings that build the same configuration as [`TlsConfig::default`].
fn is_default(tls: &TlsConfig) -> bool {
    tls.ca_cert.is_none()
        && tls.ca_path.is_none()
        && tls.client_cert.is_none()
        && tls.client_key.is_none()
        && !tls.skip_verify
        && tls.server_name.is_none()
}

/// Wraps `https` connections in TLS.
pub(crate) struct TlsConnector {
    service: Service,
    /// Set when the connector is built, or (default settings only) on the
    /// first `https` connection.
    config: OnceLock<Arc<ClientConfig>>,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsConnector {
    /// The connector for `tls`, its rustls configuration built now.
    pub(crate) fn new(service: Service, tls: &TlsConfig) -> Result<TlsConnector> {
        let config = OnceLock::new();
        let _ = config.set(client_config(service, tls)?);
        let server_name = match &tls.server_name {
            Some(n) => Some(ServerName::try_from(n.trim().to_string()).map_err(|_| {
                Error::Config(format!(
                    "{}={n:?} is not a DNS name or IP address",
                    setting(service, "server_name")
                ))
            })?),
            None => None,
        };
        Ok(TlsConnector {
            service,
            config,
            server_name,
        })
    }

    /// The connector of [`connector`]: built now unless `https_expected`
    /// is false and `tls` holds the default settings, in which case the
    /// configuration is built when a connection first needs it.
    fn for_urls(service: Service, tls: &TlsConfig, https_expected: bool) -> Result<TlsConnector> {
        if https_expected || !is_default(tls) {
            return TlsConnector::new(service, tls);
        }
        Ok(TlsConnector {
            service,
            config: OnceLock::new(),
            server_name: None,
        })
    }

    /// The rustls configuration, built now if it was deferred.
    fn config(&self) -> std::result::Result<Arc<ClientConfig>, ureq::Error> {
        if let Some(c) = self.config.get() {
            return Ok(c.clone());
        }
        // Only a deferred connector gets here: the default settings, which
        // read no file.
        let built = client_config(self.service, &TlsConfig::default()).map_err(|e| {
            log::warn!("{e}");
            ureq::Error::Tls("the TLS client configuration could not be built")
        })?;
        Ok(self.config.get_or_init(|| built).clone())
    }
}

/// The rustls client configuration for `tls`: roots, client certificate,
/// verification.
fn client_config(service: Service, tls: &TlsConfig) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("{service} TLS setup: {e}")))?;
    let builder = if tls.skip_verify {
        log::warn!(
            "{service}: TLS certificate verification is disabled (skip_verify); \
             anyone on the network path can impersonate the server"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerifier(provider)))
    } else {
        builder.with_root_certificates(roots(service, tls)?)
    };
    let config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(service, "client_cert", cert)?;
            let key_der = read_key(service, key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| config_error(service, "client_key", key, e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Error::Config(format!(
                "{} and {} must be set together (mTLS needs both)",
                setting(service, "client_cert"),
                setting(service, "client_key")
            )))
        }
    };
    Ok(Arc::new(config))
}

fn roots(service: Service, tls: &TlsConfig) -> Result<RootCertStore> {
    if tls.ca_cert.is_none() && tls.ca_path.is_none() {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    }
    let mut store = RootCertStore::empty();
    if let Some(file) = &tls.ca_cert {
        add_roots(service, "ca_cert", file, &mut store)?;
    }
    if let Some(dir) = &tls.ca_path {
        let entries =
            std::fs::read_dir(dir).map_err(|e| config_error(service, "ca_path", dir, e))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(config_error(
                service,
                "ca_path",
                dir,
                "the directory holds no certificate files",
            ));
        }
        for file in files {
            add_roots(service, "ca_path", &file, &mut store)?;
        }
    }
    Ok(store)
}

fn add_roots(service: Service, which: &str, file: &Path, store: &mut RootCertStore) -> Result<()> {
    for cert in read_certs(service, which, file)? {
        store
            .add(cert)
            .map_err(|e| config_error(service, which, file, format!("bad CA certificate: {e}")))?;
    }
    Ok(())
}

/// A PEM file, capped at [`crate::input::MAX_PEM`].
fn read_pem(service: Service, which: &str, file: &Path) -> Result<Vec<u8>> {
    crate::input::read(
        crate::input::Input::File(file),
        &setting(service, which),
        crate::input::MAX_PEM,
    )
    .map_err(|e| match e {
        Error::Io { source, .. } => config_error(service, which, file, source),
        other => other,
    })
}

fn read_certs(service: Service, which: &str, file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_pem(service, which, file)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(service, which, file, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(
            service,
            which,
            file,
            "no CERTIFICATE block in the file",
        ));
    }
    Ok(certs)
}

fn read_key(service: Service, file: &Path) -> Result<PrivateKeyDer<'static>> {
    let mut pem = read_pem(service, "client_key", file)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        config_error(
            service,
            "client_key",
            file,
            "no unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
        )
    });
    zeroize_bytes(&mut pem);
    key
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                let host = details
                    .uri
                    .host()
                    .ok_or(ureq::Error::Tls("URL without a host"))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(host.to_string())
                    .map_err(|_| ureq::Error::Tls("host is not a valid DNS name for TLS"))?
            }
        };
        let mut conn = ClientConnection::new(self.config()?, name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(|e| {
            // Surface rustls' own error (certificate, name) rather than the
            // io::Error wrapped around it.
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => ureq::Error::Rustls(tls.clone()),
                None => ureq::Error::Io(e),
            }
        })?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection over a chained transport.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// Accepts any server certificate, still checking the handshake signatures.
#[derive(Debug)]
struct NoVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tmp(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vaultid-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn default_roots_build() {
        TlsConnector::new(Service::Vault, &TlsConfig::default()).unwrap();
    }

    #[test]
    fn plain_http_with_default_settings_defers_the_tls_configuration() {
        let plain = TlsConnector::for_urls(Service::Vault, &TlsConfig::default(), false).unwrap();
        assert!(plain.config.get().is_none(), "built for http:// only");
        // Built when a connection needs it (a redirect to an https node).
        plain.config().unwrap();
        assert!(plain.config.get().is_some());
        let https = TlsConnector::for_urls(Service::Vault, &TlsConfig::default(), true).unwrap();
        assert!(https.config.get().is_some());
        // Settings that name a file are read when the client is built,
        // whatever the URLs: a bad file is a configuration error at once.
        let tls = TlsConfig {
            ca_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsConfig::default()
        };
        let e = TlsConnector::for_urls(Service::Vault, &tls, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("VAULT_CACERT"), "{e}");
        let skip = TlsConfig {
            skip_verify: true,
            ..TlsConfig::default()
        };
        let c = TlsConnector::for_urls(Service::Vault, &skip, false).unwrap();
        assert!(c.config.get().is_some());
    }

    #[test]
    fn file_errors_name_the_variable_and_path() {
        let tls = TlsConfig {
            ca_cert: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsConfig::default()
        };
        let e = TlsConnector::new(Service::Vault, &tls)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VAULT_CACERT") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );

        let empty = tmp("ca.pem", "not a certificate\n");
        let tls = TlsConfig {
            ca_cert: Some(empty.clone()),
            ..TlsConfig::default()
        };
        let e = TlsConnector::new(Service::Vault, &tls)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VAULT_CACERT") && e.contains("CERTIFICATE"),
            "{e}"
        );

        let tls = TlsConfig {
            ca_path: Some(PathBuf::from("/nonexistent-dir")),
            ..TlsConfig::default()
        };
        let e = TlsConnector::new(Service::Vault, &tls)
            .unwrap_err()
            .to_string();
        assert!(e.contains("VAULT_CAPATH"), "{e}");
        let _ = std::fs::remove_dir_all(empty.parent().unwrap());
    }

    #[test]
    fn bad_server_name_is_a_config_error() {
        let tls = TlsConfig {
            server_name: Some("not a name!".into()),
            ..TlsConfig::default()
        };
        let e = TlsConnector::new(Service::Vault, &tls)
            .unwrap_err()
            .to_string();
        assert!(e.contains("VAULT_TLS_SERVER_NAME"), "{e}");
    }

    #[test]
    fn skip_verify_builds() {
        let tls = TlsConfig {
            skip_verify: true,
            ..TlsConfig::default()
        };
        TlsConnector::new(Service::Vault, &tls).unwrap();
    }
}
