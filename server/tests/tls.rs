//! TLS on both listeners with certificates made here at run time: clients that trust the
//! CA are served on gRPC and HTTP; one that does not, and plain-text clients, are not; a
//! new certificate written over the old is served without a restart, and a broken one
//! leaves the current one in place; SIGHUP reloads files whose modification time did not
//! change; with --tls-client-ca the gRPC listener requires a client certificate from that
//! CA, and the HTTP listener still asks for none.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use stepwise_proto::tls::ClientTls;
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_server::RunningServer;
use support::{Ca, TempDir, https_get, pem_certificates};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    let (first, health) = https_get(server.http_addr, &ca.pem, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(first, pem_certificates(&cert)[0]);

    // A renewed certificate, written over the old one, is served from the next
    // connection on (the files are checked every two seconds).
    let (renewed, renewed_key) = ca.issue(&["127.0.0.1", "localhost"], "renewed");
    write(dir.path(), "server.key", &renewed_key);
    write(dir.path(), "server.pem", &renewed);
    let wanted = pem_certificates(&renewed)[0].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (presented, _) = https_get(server.http_addr, &ca.pem, "/health").await;
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
    let (presented, health) = https_get(server.http_addr, &ca.pem, "/health").await;
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
    let (_, health) = https_get(server.http_addr, &ca.pem, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    server.shutdown().await.unwrap();
}

/// The server binary reloads on SIGHUP: files replaced with their old modification
/// times (which the periodic check cannot see) are read when the signal comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    use support::process::{free_port, server_command};
    let dir = TempDir::new("tls-sighup");
    let ca = Ca::new("Stepwise test CA");
    let (cert, key) = ca.issue(&["127.0.0.1"], "first");
    let cert_file = write(dir.path(), "server.pem", &cert);
    let key_file = write(dir.path(), "server.key", &key);
    let http: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let grpc = format!("127.0.0.1:{}", free_port());
    let mut child = server_command(&dir.path().join("data"), &grpc, &http.to_string())
        .args(["--tls-cert", &cert_file.display().to_string()])
        .args(["--tls-key", &key_file.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(http).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first, _) = https_get(http, &ca.pem, "/health").await;
    assert_eq!(first, pem_certificates(&cert)[0]);

    let stamp = |path: &Path| std::fs::metadata(path).unwrap().modified().unwrap();
    let (cert_time, key_time) = (stamp(&cert_file), stamp(&key_file));
    let (renewed, renewed_key) = ca.issue(&["127.0.0.1"], "renewed");
    for (path, text, time) in [
        (&cert_file, &renewed, cert_time),
        (&key_file, &renewed_key, key_time),
    ] {
        std::fs::write(path, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (unchanged, _) = https_get(http, &ca.pem, "/health").await;
    assert_eq!(unchanged, first, "no change seen without the signal");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let wanted = pem_certificates(&renewed)[0].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (presented, health) = https_get(http, &ca.pem, "/health").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        if presented == wanted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the server"
    );
    let _ = child.kill();
    let _ = child.wait();
}
