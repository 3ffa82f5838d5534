//! TLS on both listeners (`--tls-cert`, `--tls-key`), terminated here rather than by
//! tonic so that a renewed certificate is served without a restart: the files are read
//! again on SIGHUP and when they change (checked every two seconds), and a pair that
//! cannot be used leaves the current one in place, with an error in the log. With
//! `--tls-client-ca` the gRPC listener also requires a client certificate signed by that
//! CA (mTLS, for workers on other machines); the HTTP listener, which browsers and the
//! AWS SDKs reach, never asks for one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// How often the certificate files' modification times are checked.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Why TLS cannot be set up (or a reload was refused).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or parsed.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which file (`--tls-cert`, ...).
        what: &'static str,
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key is not the certificate's, or rustls refused the pair.
    #[error("--tls-cert {cert} and --tls-key {key} cannot be used together: {reason}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The files TLS is made from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain (PEM), the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that gRPC clients' certificates must chain to.
    pub client_ca: Option<PathBuf>,
}

/// The certificate in use, replaced in place on reload.
#[derive(Debug)]
struct Current {
    files: TlsFiles,
    key: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last read.
    read: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().expect("certificate lock").clone())
    }
}

/// TLS for both listeners.
pub struct Tls {
    /// For the gRPC listener (with client certificates when `--tls-client-ca` is given).
    pub grpc: TlsAcceptor,
    /// For the HTTP listener.
    pub http: TlsAcceptor,
    current: Arc<Current>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Every certificate in a PEM file (at least one).
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The certificate and key of `files`, checked against each other.
fn certified(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let certs = certificates("--tls-cert", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| file_error("--tls-key", &files.key, e))?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| TlsError::Pair {
        cert: files.cert.display().to_string(),
        key: files.key.display().to_string(),
        reason: e.to_string(),
    })
}

impl Tls {
    /// Reads the files and builds both listeners' TLS.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let stamps = (modified(&files.cert), modified(&files.key));
        let key = certified(&files)?;
        let client_verifier = match &files.client_ca {
            None => None,
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates("--tls-client-ca", path)? {
                    roots
                        .add(cert)
                        .map_err(|e| file_error("--tls-client-ca", path, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| file_error("--tls-client-ca", path, e))?;
                Some(verifier)
            }
        };
        let current = Arc::new(Current {
            files,
            key: RwLock::new(Arc::new(key)),
            read: Mutex::new(stamps),
        });
        let builder = || {
            ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
        };
        let mut grpc = match client_verifier {
            Some(verifier) => builder().with_client_cert_verifier(verifier),
            None => builder().with_no_client_auth(),
        }
        .with_cert_resolver(current.clone());
        grpc.alpn_protocols = vec![b"h2".to_vec()];
        let mut http = builder()
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            grpc: TlsAcceptor::from(Arc::new(grpc)),
            http: TlsAcceptor::from(Arc::new(http)),
            current,
        })
    }

    /// Reads the certificate and key again and serves them from the next handshake on;
    /// on an error the current pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = &self.current.files;
        let stamps = (modified(&files.cert), modified(&files.key));
        let key = certified(files)?;
        *self.current.key.write().expect("certificate lock") = Arc::new(key);
        *self.current.read.lock().expect("certificate lock") = stamps;
        Ok(())
    }

    /// Whether the files changed since they were last read.
    fn changed(&self) -> bool {
        let files = &self.current.files;
        let now = (modified(&files.cert), modified(&files.key));
        *self.current.read.lock().expect("certificate lock") != now
    }

    /// Reloads on SIGHUP and when the files change, until `stop` turns true.
    pub fn spawn_reloader(self: &Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                let why = tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => return,
                    Some(()) = async { hangup.as_mut()?.recv().await } => "SIGHUP",
                    _ = tick.tick() => {
                        if !tls.changed() {
                            continue;
                        }
                        "the files changed"
                    }
                };
                match tls.reload() {
                    Ok(()) => tracing::info!(why, "TLS certificate reloaded"),
                    Err(e) => {
                        // The stamps stay, so a half-written pair is read again at the
                        // next change rather than every tick.
                        let files = &tls.current.files;
                        *tls.current.read.lock().expect("certificate lock") =
                            (modified(&files.cert), modified(&files.key));
                        tracing::error!(why, error = %e, "the new TLS certificate cannot be used; still serving the previous one");
                    }
                }
            }
        });
    }
}
