//! The tiny HTTP layer over ureq and rustls: TLS, timeouts, retries,
//! redirects, errors. Knows nothing of Vault or Hydra.
