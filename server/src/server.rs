//! Starting and stopping the server: bind the listeners, serve until told to stop,
//! then finish the requests in flight.

use std::future::Future;
use std::net::SocketAddr;

use stepwise_proto::v1::state_machines_server::StateMachinesServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::api::StateMachinesService;
use crate::config::Config;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The gRPC address could not be bound (in use, not local, no permission).
    #[error("cannot listen for gRPC on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The transport failed while serving.
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A server running in the background (used by tests and embedders).
pub struct RunningServer {
    /// The address the gRPC API actually listens on (useful with port 0).
    pub grpc_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Stops accepting requests, lets the ones in flight finish, and waits.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.await {
            Ok(result) => result,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}

/// Binds the listeners and serves in the background.
pub async fn start(config: Config) -> Result<RunningServer, ServerError> {
    let (stop, stopped) = oneshot::channel::<()>();
    let listener = TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let grpc_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.grpc_addr,
        source,
    })?;
    tracing::info!(%grpc_addr, "gRPC API listening");
    let task = tokio::spawn(serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(RunningServer {
        grpc_addr,
        stop: Some(stop),
        task,
    })
}

async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    tonic::transport::Server::builder()
        .add_service(StateMachinesServer::new(StateMachinesService))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
