//! Shared helpers for the end-to-end tests: temporary data directories, a real server on
//! ephemeral loopback ports, clients, and a scripted worker.
#![allow(dead_code)]

pub mod process;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stepwise_proto::key::{KeyedChannel, PresentKey};
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::executions_client::ExecutionsClient;
use stepwise_proto::v1::keys_client::KeysClient;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_proto::v1::tasks_client::TasksClient;
use stepwise_server::{Config, RunningServer};

/// One HTTP/1.1 request with extra header lines (each ending in CRLF): the status, the
/// lower-cased head and the body.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut response))
        .await
        .expect("the response ends")
        .unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A CA made at test time, signing certificates for the test's servers and clients.
pub struct Ca {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// Its certificate (PEM).
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate and key (PEM) for these names, signed by this CA.
    pub fn issue(&self, names: &[&str], common_name: &str) -> (String, String) {
        use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
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

/// An AWS credentials file in `dir` whose `[default]` key is `id` and `secret`, for
/// `--admin-credentials`.
pub fn admin_credentials(dir: &Path, id: &str, secret: &str) -> PathBuf {
    let path = dir.join("admin-credentials");
    let text = format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every certificate in PEM text.
pub fn pem_certificates(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// GET `path` over TLS, trusting the CAs of `ca_pem`: the certificate the server
/// presented and the whole response.
pub async fn https_get(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    path: &str,
) -> (rustls::pki_types::CertificateDer<'static>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certificates(ca_pem) {
        roots.add(cert).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response).await;
    (presented, response)
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "stepwise-{tag}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        drop_database(&self.0);
    }
}

/// The suites run on the embedded store, and again on PostgreSQL with
/// `STEPWISE_TEST_STORE=postgres` (run-tests.sh does both): then every data directory a
/// test makes gets a database of its own on the suite's cluster
/// (`STEPWISE_TEST_DATABASE_URL`), created when a server first starts on it and dropped
/// with the directory.
pub fn on_postgres() -> bool {
    std::env::var("STEPWISE_TEST_STORE").is_ok_and(|store| store == "postgres")
}

fn databases() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, (String, String)>> {
    static DATABASES: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, (String, String)>>,
    > = std::sync::OnceLock::new();
    DATABASES.get_or_init(Default::default)
}

/// Runs one administrative statement on the suite's cluster.
fn administer(statement: String) {
    let url = std::env::var("STEPWISE_TEST_DATABASE_URL").expect(
        "STEPWISE_TEST_STORE=postgres needs STEPWISE_TEST_DATABASE_URL (run-tests.sh sets both)",
    );
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client.batch_execute(&statement).await.unwrap();
            })
    })
    .join()
    .unwrap();
}

/// The database URL of the store for `dir` when the suites run on PostgreSQL.
pub fn database_url(dir: &Path) -> Option<String> {
    on_postgres().then(|| database_of(dir))
}

/// The URL of a database of its own for `dir` on the suite's cluster, created on first
/// use and dropped with the directory (whichever store the suite runs on).
pub fn database_of(dir: &Path) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut databases = databases().lock().unwrap();
    if let Some((_, url)) = databases.get(dir) {
        return url.clone();
    }
    let name = format!(
        "stepwise_suite_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    administer(format!("CREATE DATABASE \"{name}\""));
    let cluster = std::env::var("STEPWISE_TEST_DATABASE_URL").unwrap();
    let base = cluster
        .rsplit_once('/')
        .map_or(cluster.as_str(), |(base, _)| base);
    let url = format!("{base}/{name}");
    databases.insert(dir.to_path_buf(), (name, url.clone()));
    url
}

fn drop_database(dir: &Path) {
    let Some((name, _)) = databases().lock().unwrap().remove(dir) else {
        return;
    };
    administer(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
}

/// The node id of a suite's server on PostgreSQL (each test's database has one node).
pub const SUITE_NODE: &str = "suite-node";

/// The configuration of an in-process server on `dir`, ephemeral loopback ports, on the
/// store the suite runs on.
pub fn config(dir: impl Into<PathBuf>) -> Config {
    let dir = dir.into();
    let mut config = Config::ephemeral(&dir);
    config.database_url = database_url(&dir);
    // One node per database, restarted under the same id: it takes its partitions
    // back at once, as a single server on its data directory does.
    config.node_id = Some(SUITE_NODE.into());
    config
}

/// The gRPC clients of one server, each call presenting the same key (or none).
#[derive(Clone)]
pub struct Clients {
    pub machines: StateMachinesClient<KeyedChannel>,
    pub executions: ExecutionsClient<KeyedChannel>,
    pub tasks: TasksClient<KeyedChannel>,
    pub keys: KeysClient<KeyedChannel>,
}

impl Clients {
    pub async fn connect(endpoint: String) -> Clients {
        Clients::connect_with_key(endpoint, None).await
    }

    /// Clients that present `key` (`KEY_ID:SECRET`) on every call.
    pub async fn connect_with_key(endpoint: String, key: Option<&str>) -> Clients {
        Clients::connect_with(endpoint, key, &Default::default()).await
    }

    /// Clients over TLS for an `https://` endpoint, presenting `key` on every call.
    pub async fn connect_with(
        endpoint: String,
        key: Option<&str>,
        tls: &stepwise_proto::tls::ClientTls,
    ) -> Clients {
        let channel = tls.endpoint(&endpoint).unwrap().connect().await.unwrap();
        let channel = PresentKey::new(key).unwrap().on(channel);
        Clients {
            machines: StateMachinesClient::new(channel.clone()),
            executions: ExecutionsClient::new(channel.clone()),
            tasks: TasksClient::new(channel.clone()),
            keys: KeysClient::new(channel),
        }
    }

    /// ListStateMachines, as the clients' key may see it.
    pub async fn list_machines(&mut self) -> Result<Vec<pb::StateMachine>, tonic::Status> {
        let listed = self
            .machines
            .list_state_machines(pb::ListStateMachinesRequest::default())
            .await?;
        Ok(listed.into_inner().state_machines)
    }

    pub async fn create(&mut self, name: &str, definition: &serde_json::Value) -> pb::StateMachine {
        self.machines
            .create_state_machine(pb::CreateStateMachineRequest {
                name: name.into(),
                definition: definition.to_string(),
                r#type: pb::StateMachineType::Standard.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("create {name}: {s}"))
            .into_inner()
    }

    pub async fn start(&mut self, machine: &str, name: &str, input: serde_json::Value) -> String {
        self.executions
            .start_execution(pb::StartExecutionRequest {
                state_machine: machine.into(),
                name: name.into(),
                input: input.to_string(),
            })
            .await
            .unwrap_or_else(|s| panic!("start {machine}/{name}: {s}"))
            .into_inner()
            .execution_arn
    }

    pub async fn describe(&mut self, arn: &str) -> pb::Execution {
        self.executions
            .describe_execution(pb::DescribeExecutionRequest {
                execution_arn: arn.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits (bounded) until the execution leaves RUNNING.
    pub async fn wait_done(&mut self, arn: &str, limit: Duration) -> pb::Execution {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let execution = self.describe(arn).await;
            if execution.status() != pb::ExecutionStatus::Running {
                return execution;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{arn} still running after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An execution's whole history, following the paging tokens.
    pub async fn history(&mut self, arn: &str) -> Vec<pb::HistoryEvent> {
        let mut all = Vec::new();
        let mut next_token = String::new();
        loop {
            let page = self
                .executions
                .get_execution_history(pb::GetExecutionHistoryRequest {
                    execution_arn: arn.into(),
                    max_results: 1000,
                    next_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            all.extend(page.events);
            if page.next_token.is_empty() {
                return all;
            }
            next_token = page.next_token;
        }
    }

    /// Every execution of a machine, following the paging tokens.
    pub async fn list_all(&mut self, machine: &str) -> Vec<pb::Execution> {
        let mut all = Vec::new();
        let mut next_token = String::new();
        loop {
            let page = self
                .executions
                .list_executions(pb::ListExecutionsRequest {
                    state_machine: machine.into(),
                    max_results: 1000,
                    next_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            all.extend(page.executions);
            if page.next_token.is_empty() {
                return all;
            }
            next_token = page.next_token;
        }
    }

    /// Polls once (short wait) and returns the task, if any.
    pub async fn poll(&mut self, queue: &str, wait_seconds: u32) -> Option<pb::PollTaskResponse> {
        let task = self
            .tasks
            .poll_task(pb::PollTaskRequest {
                queues: vec![queue.into()],
                worker_name: "test-worker".into(),
                wait_seconds,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        (!task.token.is_empty()).then_some(task)
    }

    pub async fn succeed(
        &mut self,
        token: &str,
        output: serde_json::Value,
    ) -> Result<(), tonic::Status> {
        self.tasks
            .send_task_success(pb::SendTaskSuccessRequest {
                token: token.into(),
                output: output.to_string(),
            })
            .await
            .map(|_| ())
    }

    pub async fn fail(
        &mut self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<(), tonic::Status> {
        self.tasks
            .send_task_failure(pb::SendTaskFailureRequest {
                token: token.into(),
                error: error.into(),
                cause: cause.into(),
            })
            .await
            .map(|_| ())
    }
}

/// Starts a server on `dir` with ephemeral ports.
pub async fn start(dir: &Path) -> (RunningServer, Clients) {
    let server = stepwise_server::start(config(dir))
        .await
        .expect("server starts");
    let clients = Clients::connect(format!("http://{}", server.grpc_addr)).await;
    (server, clients)
}

/// Replays every execution's stored history in a fresh in-process server on `dir` (the
/// child must have exited) and checks it rebuilds the stored record.
pub async fn verify_replay_all(dir: &std::path::Path, arns: &[String]) {
    let (server, _) = start(dir).await;
    for arn in arns {
        server
            .runtime
            .verify_replay(arn)
            .unwrap_or_else(|e| panic!("{arn}: {e}"));
    }
    server.shutdown().await.unwrap();
}

/// Whether to run the long variants of the suites (`STEPWISE_LONG=1`).
pub fn long_variant() -> bool {
    std::env::var("STEPWISE_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `text` percent-encoded for a URL path segment (an ARN in the console's routes).
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

/// Event types of a history.
pub fn types(history: &[pb::HistoryEvent]) -> Vec<String> {
    history.iter().map(|e| e.r#type.clone()).collect()
}

/// Checks ids are 1..=n, each previous id is the one before, and nothing follows the
/// terminal event.
pub fn assert_contiguous(history: &[pb::HistoryEvent]) {
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.id, i as u64 + 1, "ids are contiguous");
        assert_eq!(event.previous_event_id, i as u64);
    }
    let terminal = [
        "ExecutionSucceeded",
        "ExecutionFailed",
        "ExecutionAborted",
        "ExecutionTimedOut",
    ];
    if let Some(end) = history
        .iter()
        .position(|e| terminal.contains(&e.r#type.as_str()))
    {
        assert_eq!(end + 1, history.len(), "nothing after the terminal event");
    }
}
