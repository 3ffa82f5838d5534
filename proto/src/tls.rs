//! How clients reach a server over TLS (an `https://` endpoint): the CAs they trust
//! besides the system's, and the certificate they present when the server asks for one
//! (mTLS). Shared by the CLI, the worker SDK and `stepwise-worker`.

use std::path::PathBuf;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The TLS files a client uses.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificates (PEM) to trust, besides the system's.
    pub ca_cert: Option<PathBuf>,
    /// The client's certificate (PEM), for a server that requires one.
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// A file cannot be read.
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        /// Which flag's file.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A certificate without its key, or the other way round.
    #[error("--client-cert and --client-key go together")]
    HalfIdentity,
    /// TLS files for an endpoint that is not `https://`.
    #[error("TLS files were given for {0}, which is not an https:// endpoint")]
    NotHttps(String),
    /// tonic refused the configuration.
    #[error("TLS cannot be set up: {0}")]
    Setup(String),
}

fn read(what: &'static str, path: &PathBuf) -> Result<Vec<u8>, ClientTlsError> {
    std::fs::read(path).map_err(|e| ClientTlsError::Read {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl ClientTls {
    /// Whether no file was given.
    pub fn is_empty(&self) -> bool {
        self.ca_cert.is_none() && self.client_cert.is_none() && self.client_key.is_none()
    }

    /// An endpoint for `url`: over TLS for `https://` (the system's CAs, these files'),
    /// plain for `http://` (refused if TLS files were given, so they are never ignored).
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, ClientTlsError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| ClientTlsError::Setup(format!("'{url}' is not a valid endpoint: {e}")))?;
        if !url.starts_with("https://") {
            if !self.is_empty() {
                return Err(ClientTlsError::NotHttps(url.to_string()));
            }
            return Ok(endpoint);
        }
        let mut config = ClientTlsConfig::new().with_native_roots();
        if let Some(ca) = &self.ca_cert {
            config = config.ca_certificate(Certificate::from_pem(read("--ca-cert", ca)?));
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(
                    read("--client-cert", cert)?,
                    read("--client-key", key)?,
                ));
            }
            (None, None) => {}
            _ => return Err(ClientTlsError::HalfIdentity),
        }
        endpoint
            .tls_config(config)
            .map_err(|e| ClientTlsError::Setup(e.to_string()))
    }
}
