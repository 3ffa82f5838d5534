//! Starting and stopping the server: open the store, recover the runtime, bind the
//! listeners, serve until told to stop, then let requests in flight finish and flush.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stepwise_proto::v1::cluster_server::ClusterServer;
use stepwise_proto::v1::executions_server::ExecutionsServer;
use stepwise_proto::v1::keys_server::KeysServer;
use stepwise_proto::v1::state_machines_server::StateMachinesServer;
use stepwise_proto::v1::tasks_server::TasksServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{
    ClusterService, ExecutionsService, KeysService, StateMachinesService, TasksService, interceptor,
};
use crate::billing::PriceTable;
use crate::config::Config;
use crate::runtime::{ClusterConfig, PeerTls, Runtime, RuntimeConfig, RuntimeError};
use crate::store::{NodeInfo, PgStore, SledStore, Store, StoreError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An address could not be bound (in use, not local, no permission).
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        /// gRPC or HTTP.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The data directory cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A configuration file cannot be used.
    #[error("{0}")]
    Config(String),
    /// Recovery failed.
    #[error("recovery failed: {0}")]
    Recovery(#[from] RuntimeError),
    /// The store failed while serving; the last durable state is what a restart finds.
    #[error("stopped after a store failure: {0}")]
    Stopped(String),
    /// The transport failed while serving.
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A server running in the background (used by tests and embedders).
pub struct RunningServer {
    /// The address the gRPC API listens on (useful with port 0).
    pub grpc_addr: SocketAddr,
    /// The address the HTTP listener listens on.
    pub http_addr: SocketAddr,
    /// The runtime, for tests that look inside.
    pub runtime: Runtime,
    stop: watch::Sender<bool>,
    grpc: JoinHandle<Result<(), ServerError>>,
    http: JoinHandle<()>,
}

/// How long requests in flight may take to finish once a shutdown starts; connections
/// still busy after that are closed, so a stop always ends.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How long the last commit and flush may take at shutdown.
pub const FLUSH_LIMIT: Duration = Duration::from_secs(10);

impl RunningServer {
    /// Stops accepting requests, lets the ones in flight finish (at most [`DRAIN_LIMIT`]),
    /// commits and flushes (at most [`FLUSH_LIMIT`]).
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        // Long polls and live feeds would hold the drain (a watch of a running execution
        // for ever); end them first.
        self.runtime.drain();
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        let served = match tokio::time::timeout_at(deadline, &mut self.grpc).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
            Err(_) => {
                tracing::warn!(
                    "gRPC calls still in flight after {DRAIN_LIMIT:?}; closing their connections"
                );
                self.grpc.abort();
                Ok(())
            }
        };
        if tokio::time::timeout_at(deadline, &mut self.http)
            .await
            .is_err()
        {
            tracing::warn!(
                "HTTP requests still in flight after {DRAIN_LIMIT:?}; closing their connections"
            );
            self.http.abort();
        }
        self.runtime.shutdown(FLUSH_LIMIT).await;
        served?;
        // A store that failed while serving is an unclean stop: say so in the exit code.
        match self.runtime.store_failure() {
            Some(failure) => Err(ServerError::Stopped(failure)),
            None => Ok(()),
        }
    }
}

async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { what, addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { what, addr, source })?;
    Ok((listener, local))
}

/// The admin credential of `--admin-credentials`, with what is wrong named.
fn read_admin_credentials(path: &std::path::Path) -> Result<crate::auth::Credential, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServerError::Config(format!(
            "cannot read --admin-credentials {}: {e}",
            path.display()
        ))
    })?;
    crate::auth::credentials::parse(&text).map_err(|e| {
        ServerError::Config(format!(
            "--admin-credentials {} is not an AWS credentials file: {e}",
            path.display()
        ))
    })
}

/// Opens the store, recovers, binds the listeners and serves in the background.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    config.check_exposure().map_err(ServerError::Config)?;
    let admin_credential = match &config.admin_credentials {
        None => None,
        Some(path) => Some(read_admin_credentials(path)?),
    };
    let tls = match config.tls_files() {
        None => None,
        Some(files) => Some(Arc::new(
            crate::tls::Tls::load(files).map_err(|e| ServerError::Config(e.to_string()))?,
        )),
    };
    for (flag, addr) in config.exposed_listeners() {
        match admin_credential {
            Some(_) if tls.is_some() => {}
            Some(_) => tracing::warn!(
                %addr,
                flag,
                "listening beyond loopback without TLS: keys and payloads cross the network in clear text"
            ),
            None => tracing::warn!(
                %addr,
                flag,
                "--insecure: listening beyond loopback without authentication; anyone who reaches this address may start, stop and read every execution and complete any task"
            ),
        }
    }
    let (grpc_listener, grpc_addr) = bind("gRPC", config.grpc_addr).await?;
    let (http_listener, http_addr) = bind("HTTP", config.http_addr).await?;
    let prices = match &config.price_table {
        None => PriceTable::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ServerError::Config(format!(
                    "cannot read the price table {}: {e}",
                    path.display()
                ))
            })?;
            serde_json::from_str(&text).map_err(|e| {
                ServerError::Config(format!(
                    "the price table {} is not valid: {e}",
                    path.display()
                ))
            })?
        }
    };
    let store: Arc<dyn Store> = match &config.database_url {
        Some(url) => Arc::new(PgStore::connect(url)?),
        None => Arc::new(SledStore::open_with_cache(
            &config.data_dir,
            config.store_cache_mb * 1024 * 1024,
        )?),
    };
    let runtime = Runtime::open(
        store,
        RuntimeConfig {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            max_history_events: config.max_history_events,
            express_max_seconds: config.express_max_seconds,
            express_history: config.express_history,
            prices,
            partitions: config.partitions,
            cluster: cluster_config(&config, grpc_addr, http_addr)?,
            admin_credential,
            ..RuntimeConfig::default()
        },
    )
    .await?;
    let (open_files, before) = crate::connections::raise_open_file_limit();
    let idle = Duration::from_secs(config.connection_idle_seconds);
    let mut limits = crate::connections::Limits::from_open_files(open_files, idle);
    if let Some(max) = config.max_connections {
        limits.max = max.max(1);
    }
    if open_files > before {
        tracing::info!(
            open_files,
            raised_from = before,
            max_connections = limits.max,
            "open-file limit raised"
        );
    } else {
        tracing::info!(open_files, max_connections = limits.max, "open-file limit");
    }
    let (stop, stopped) = watch::channel(false);
    match &config.database_url {
        Some(_) => tracing::info!(%grpc_addr, %http_addr, store = "postgresql", "listening"),
        None => {
            tracing::info!(%grpc_addr, %http_addr, data_dir = %config.data_dir.display(), "listening")
        }
    }
    tracing::info!(
        "web console at {}",
        crate::console::url(http_addr, tls.is_some())
    );
    if let Some(tls) = &tls {
        tls.spawn_reloader(stopped.clone());
    }
    let grpc = tokio::spawn(serve_grpc(
        runtime.clone(),
        grpc_listener,
        limits,
        tls.as_ref().map(|tls| tls.grpc.clone()),
        wait_for(stopped.clone()),
    ));
    let routes = crate::aws::router(runtime.clone())
        .merge(crate::console::router(runtime.clone(), tls.is_some()));
    let http = tokio::spawn(crate::connections::serve_http(
        http_listener,
        routes,
        limits,
        tls.as_ref().map(|tls| tls.http.clone()),
        wait_for(stopped),
    ));
    Ok(RunningServer {
        grpc_addr,
        http_addr,
        runtime,
        stop,
        grpc,
        http,
    })
}

/// This node's id and the addresses the other nodes reach it at.
fn cluster_config(
    config: &Config,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
) -> Result<ClusterConfig, ServerError> {
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let host = config.advertise_host.clone().unwrap_or_else(|| {
        if grpc_addr.ip().is_unspecified() {
            host_name.clone()
        } else {
            grpc_addr.ip().to_string()
        }
    });
    let reach = |addr: SocketAddr| match host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, addr.port()).to_string(),
        Err(_) => format!("{host}:{}", addr.port()),
    };
    let id =
        (config.node_id.clone()).unwrap_or_else(|| format!("{host_name}:{}", grpc_addr.port()));
    // Node ids travel in announcements and metrics labels: printable, no spaces.
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ServerError::Config(format!(
            "--node-id must be 1 to 128 printable ASCII characters without spaces, not {id:?}"
        )));
    }
    Ok(ClusterConfig {
        node: NodeInfo {
            id,
            grpc_addr: reach(grpc_addr),
            http_addr: reach(http_addr),
        },
        lease: Duration::from_secs(config.lease_seconds),
        peer_tls: peer_tls(config)?,
    })
}

/// How this node reaches the others when the listeners serve TLS: trusting --tls-ca (or
/// the system's CAs), and presenting its own certificate when the nodes require client
/// certificates (--tls-client-ca).
fn peer_tls(config: &Config) -> Result<Option<PeerTls>, ServerError> {
    let Some(files) = config.tls_files() else {
        return Ok(None);
    };
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| ServerError::Config(format!("cannot read {flag} {}: {e}", path.display())))
    };
    let ca = match &config.tls_ca {
        Some(path) => Some(read("--tls-ca", path)?),
        None => None,
    };
    let identity = match files.client_ca {
        Some(_) => Some((
            read("--tls-cert", &files.cert)?,
            read("--tls-key", &files.key)?,
        )),
        None => None,
    };
    Ok(Some(PeerTls { ca, identity }))
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn serve_grpc(
    runtime: Runtime,
    listener: TcpListener,
    limits: crate::connections::Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    tonic::transport::Server::builder()
        // Pings keep a live client's connection from looking silent (see connections.rs)
        // and find dead peers.
        .http2_keepalive_interval(Some(crate::connections::grpc_ping_interval()))
        .http2_keepalive_timeout(Some(limits.idle))
        // One span per RPC, named by its method, so every log line of a call carries it.
        .trace_fn(|request| {
            let span = tracing::info_span!("rpc", method = %request.uri().path());
            // A caller's W3C trace context makes this call part of its trace.
            stepwise_proto::trace::adopt(&span, request.headers());
            span
        })
        // The interceptors that authenticate each call see no URI: the call's name
        // travels in the request's extensions, for the audit record of a refusal.
        .layer(tower::util::MapRequestLayer::new(
            |mut request: tonic::codegen::http::Request<tonic::body::Body>| {
                let method = crate::api::RpcMethod::of(request.uri().path());
                request.extensions_mut().insert(method);
                request
            },
        ))
        .add_service(StateMachinesServer::with_interceptor(
            StateMachinesService::new(runtime.clone()),
            interceptor(runtime.clone()),
        ))
        .add_service(ExecutionsServer::with_interceptor(
            ExecutionsService::new(runtime.clone()),
            interceptor(runtime.clone()),
        ))
        .add_service(TasksServer::with_interceptor(
            TasksService::new(runtime.clone()),
            interceptor(runtime.clone()),
        ))
        .add_service(KeysServer::with_interceptor(
            KeysService::new(runtime.clone()),
            interceptor(runtime.clone()),
        ))
        .add_service(ClusterServer::with_interceptor(
            ClusterService::new(runtime.clone()),
            interceptor(runtime),
        ))
        .serve_with_incoming_shutdown(
            crate::connections::grpc_incoming(listener, limits, tls),
            shutdown,
        )
        .await?;
    Ok(())
}
