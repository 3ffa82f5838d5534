//! TLS on both listeners with certificates made here at run time: clients that trust the
//! CA are served on gRPC and HTTP; one that does not, and plain-text clients, are not; a
//! new certificate written over the old is served without a restart, and a broken one
//! leaves the current one in place; with --tls-client-ca the gRPC listener requires a
//! client certificate from that CA, and the HTTP listener still asks for none.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use stepwise_proto::tls::ClientTls;
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_server::RunningServer;
use support::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA that signs certificates for this test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate and key (PEM) for these names, signed by this CA.
    fn issue(&self, names: &[&str], common_name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(dir: &Path, client_ca: Option<PathBuf>) -> RunningServer {
    let mut config = support::config(dir.join("data"));
    config.tls_cert = Some(dir.join("server.pem"));
    config.tls_key = Some(dir.join("server.key"));
    config.tls_client_ca = client_ca;
    stepwise_server::start(config).await.unwrap()
}

/// ListStateMachines over gRPC with these TLS files.
async fn list(endpoint: &str, tls: &ClientTls) -> Result<usize, String> {
    let channel = tls
        .endpoint(endpoint)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let machines = StateMachinesClient::new(channel)
        .list_state_machines(pb::ListStateMachinesRequest::default())
        .await
        .map_err(|e| format!("call: {e:?}"))?;
    Ok(machines.into_inner().state_machines.len())
}

/// The certificate the HTTP listener presents, and its answer to GET /health.
async fn https_health(
    addr: std::net::SocketAddr,
    ca_pem: &str,
) -> (CertificateDer<'static>, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pem_certs(ca_pem) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    tls.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response).await;
    (presented, response)
}

/// GET /health in plain text: whatever comes back before the server closes.
async fn plain_http_health(addr: std::net::SocketAddr) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(40), tcp.read_to_end(&mut response));
    let _ = read.await.expect("the server closes the connection");
    String::from_utf8_lossy(&response).into_owned()
}

fn rustls_pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_serve_tls_and_a_new_certificate_without_a_restart() {
    let dir = TempDir::new("tls");
    let ca = Ca::new("Stepwise test CA");
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"], "first");
    write(dir.path(), "server.pem", &cert);
    write(dir.path(), "server.key", &key);
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let server = start(dir.path(), None).await;
    let https = format!("https://{}", server.grpc_addr);
    let trusting = ClientTls {
        ca_cert: Some(ca_file.clone()),
        ..Default::default()
    };
    assert_eq!(list(&https, &trusting).await, Ok(0));

    // A client that does not trust the CA, and clients that speak plain text.
    let untrusting = list(&https, &ClientTls::default()).await.unwrap_err();
    assert!(untrusting.contains("connect"), "{untrusting}");
    let plain = list(
        &format!("http://{}", server.grpc_addr),
        &ClientTls::default(),
    )
    .await;
    assert!(plain.is_err(), "plain text on the TLS port: {plain:?}");
    let answer = plain_http_health(server.http_addr).await;
    assert!(
        !answer.contains("200"),
        "plain HTTP on the TLS port: {answer:?}"
    );

    let (first, health) = https_health(server.http_addr, &ca.pem).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(first, rustls_pem_certs(&cert)[0]);

    // A renewed certificate, written over the old one, is served from the next
    // connection on (the files are checked every two seconds).
    let (renewed, renewed_key) = ca.issue(&["127.0.0.1", "localhost"], "renewed");
    write(dir.path(), "server.key", &renewed_key);
    write(dir.path(), "server.pem", &renewed);
    let wanted = rustls_pem_certs(&renewed)[0].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (presented, _) = https_health(server.http_addr, &ca.pem).await;
        if presented == wanted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(list(&https, &trusting).await, Ok(0));

    // A broken pair (a key that is not the certificate's) is refused; the renewed one stays.
    let (_, other_key) = ca.issue(&["127.0.0.1"], "other");
    write(dir.path(), "server.key", &other_key);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (presented, health) = https_health(server.http_addr, &ca.pem).await;
    assert_eq!(presented, wanted, "still the renewed certificate");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(list(&https, &trusting).await, Ok(0));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_grpc_requires_a_client_certificate_from_it() {
    let dir = TempDir::new("mtls");
    let ca = Ca::new("Stepwise test CA");
    let clients_ca = Ca::new("Stepwise workers CA");
    let strangers_ca = Ca::new("Someone else's CA");
    let (cert, key) = ca.issue(&["127.0.0.1"], "server");
    write(dir.path(), "server.pem", &cert);
    write(dir.path(), "server.key", &key);
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let client_ca = write(dir.path(), "clients-ca.pem", &clients_ca.pem);
    let server = start(dir.path(), Some(client_ca)).await;
    let https = format!("https://{}", server.grpc_addr);

    let (worker_cert, worker_key) = clients_ca.issue(&["worker-1"], "worker-1");
    let (stranger_cert, stranger_key) = strangers_ca.issue(&["stranger"], "stranger");
    let with = |cert: &str, key: &str, name: &str| ClientTls {
        ca_cert: Some(ca_file.clone()),
        client_cert: Some(write(dir.path(), &format!("{name}.pem"), cert)),
        client_key: Some(write(dir.path(), &format!("{name}.key"), key)),
    };
    assert_eq!(
        list(&https, &with(&worker_cert, &worker_key, "worker")).await,
        Ok(0)
    );
    let stranger = list(&https, &with(&stranger_cert, &stranger_key, "stranger")).await;
    assert!(
        stranger.is_err(),
        "a certificate of another CA: {stranger:?}"
    );
    let none = ClientTls {
        ca_cert: Some(ca_file.clone()),
        ..Default::default()
    };
    assert!(list(&https, &none).await.is_err(), "no client certificate");
    // The HTTP listener (browsers, the AWS SDKs) asks for none.
    let (_, health) = https_health(server.http_addr, &ca.pem).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    server.shutdown().await.unwrap();
}
