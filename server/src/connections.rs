//! Accepting connections so that no client can starve the others: a few thousand idle
//! or trickling sockets once used up the file descriptors, and `/health` and gRPC calls
//! then timed out.
//!
//! - Each listener keeps at most `max` connections open (derived from the open-file
//!   limit, which start-up raises to its hard limit where allowed). When a new one comes
//!   and the listener is full, the oldest connection that has not yet spoken (no request
//!   head on HTTP, not a byte on gRPC) is closed to make room: a flood of silent sockets
//!   cannot keep out a health check or a real client. If every open connection has
//!   spoken, the new one is closed at once.
//! - HTTP/1: a request's head must arrive within `idle` of the connection opening or of
//!   the previous response (this also closes idle keep-alive connections and trickling
//!   heads); a body is read with a time limit where it is read (`aws::body`).
//! - gRPC (HTTP/2): a connection that reads nothing for `idle` is closed. The server pings
//!   every connection well within that (HTTP/2 keep-alive), so a live client, even an
//!   idle one between long polls, always answers in time; a socket that never speaks
//!   HTTP/2 does not.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

/// How often the gRPC server pings an HTTP/2 connection: well within `idle`.
const PING_EVERY: Duration = Duration::from_secs(10);

/// What each listener allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub max: usize,
    /// How long a connection may stay silent (see the module comment).
    pub idle: Duration,
}

impl Limits {
    /// Limits for one of the two listeners given the process's open-file limit: half of
    /// what is left after files and the store, at most 10,000.
    pub fn from_open_files(open_files: u64, idle: Duration) -> Limits {
        let spare = open_files.saturating_sub(256) / 2;
        Limits {
            max: spare.clamp(16, 10_000) as usize,
            idle,
        }
    }
}

/// Raises the soft open-file limit to the hard one where the OS allows; returns the
/// limit in force and what it was.
// `rlim_t` is u64 on Linux but not on every Unix.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_file_limit() -> (u64, u64) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the one struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return (1024, 1024);
            }
            let before = limit.rlim_cur as u64;
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    return (raised.rlim_cur as u64, before);
                }
            }
            (before, before)
        }
    }
    #[cfg(not(unix))]
    {
        (1024, 1024)
    }
}

/// Who is connected to one listener, to decide who goes when it is full.
struct Admission {
    max: usize,
    state: Mutex<AdmissionState>,
}

#[derive(Default)]
struct AdmissionState {
    next_id: u64,
    open: usize,
    /// Connections that have not spoken yet, oldest (lowest id) first; firing the
    /// sender closes the connection.
    silent: BTreeMap<u64, oneshot::Sender<()>>,
}

/// A connection's place on its listener, given back when dropped.
pub struct Place {
    id: u64,
    admission: Arc<Admission>,
}

impl Admission {
    fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max,
            state: Mutex::new(AdmissionState::default()),
        })
    }

    /// A place for a new connection, closing the oldest silent one if the listener is
    /// full; `None` when every open connection has spoken. The receiver fires if this
    /// connection is closed to make room for a later one.
    fn admit(self: &Arc<Self>) -> Option<(Place, oneshot::Receiver<()>)> {
        let mut state = self.state.lock().expect("admission lock");
        if state.open >= self.max {
            let (&oldest, _) = state.silent.iter().next()?;
            if let Some(close) = state.silent.remove(&oldest) {
                // The evicted connection gives its place back as it ends.
                let _ = close.send(());
            }
        }
        state.open += 1;
        state.next_id += 1;
        let id = state.next_id;
        let (close, closed) = oneshot::channel();
        state.silent.insert(id, close);
        Some((
            Place {
                id,
                admission: self.clone(),
            },
            closed,
        ))
    }
}

impl Place {
    /// The connection spoke (a request head, a byte): it is no longer the first to go.
    fn spoke(&self) {
        self.admission
            .state
            .lock()
            .expect("admission lock")
            .silent
            .remove(&self.id);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.admission.state.lock().expect("admission lock");
        state.open -= 1;
        state.silent.remove(&self.id);
    }
}

/// Serves `router` on `listener` over HTTP/1 (over TLS when `tls` is given) with the
/// limits above, until `shutdown` resolves; then lets requests in flight finish (the
/// caller bounds how long).
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let admission = Admission::new(limits.max);
    let (stop, stopping) = watch::channel(false);
    let ended = Arc::new(Semaphore::new(0));
    let mut connections = 0u32;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to be freed.
                tracing::warn!("accepting an HTTP connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some((place, evicted)) = admission.admit() else {
            drop(stream);
            continue;
        };
        no_delay(&stream);
        connections += 1;
        let router = router.clone();
        let stopping = stopping.clone();
        let ended = ended.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let place = Arc::new(place);
            match tls {
                None => {
                    serve_http_connection(stream, router, place, evicted, stopping, limits).await
                }
                Some(tls) => {
                    // The handshake must come within the idle time, as a request head must.
                    let handshake = tokio::time::timeout(limits.idle, tls.accept(stream));
                    let mut evicted = evicted;
                    let shaken = tokio::select! {
                        shaken = handshake => shaken,
                        Ok(()) = &mut evicted => {
                            ended.add_permits(1);
                            return;
                        }
                    };
                    match shaken {
                        Ok(Ok(stream)) => {
                            serve_http_connection(stream, router, place, evicted, stopping, limits)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!("an HTTP client's TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("an HTTP client's TLS handshake took too long"),
                    }
                }
            }
            ended.add_permits(1);
        });
    }
    let _ = stop.send(true);
    // Every connection adds a permit as it ends.
    let _ = ended.acquire_many(connections).await;
}

/// One HTTP/1 connection, until it ends, the server stops or it is closed to make room.
async fn serve_http_connection<IO>(
    stream: IO,
    router: axum::Router,
    place: Arc<Place>,
    evicted: oneshot::Receiver<()>,
    mut stopping: watch::Receiver<bool>,
    limits: Limits,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let speaking = place.clone();
    let service = hyper::service::service_fn(move |request| {
        speaking.spoke();
        tower::ServiceExt::oneshot(router.clone(), request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::pin!(evicted);
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = stopping.wait_for(|stop| *stop) => None,
        Ok(()) = &mut evicted => None,
    };
    if finished.is_none() {
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
    drop(place);
}

/// Connections for the gRPC server, each holding a place on the listener and closed when
/// it stays silent (see the module comment); over TLS when `tls` is given, each
/// handshake in a task of its own so a slow one holds up no other connection.
pub fn grpc_incoming(
    listener: TcpListener,
    limits: Limits,
    tls: Option<TlsAcceptor>,
) -> Pin<Box<dyn tokio_stream::Stream<Item = io::Result<GrpcConnection>> + Send>> {
    use tokio_stream::StreamExt;
    let admission = Admission::new(limits.max);
    let guarded = move |stream: TcpStream| {
        // Full and nobody silent to close: this one is dropped, and so closed.
        let (place, evicted) = admission.admit()?;
        no_delay(&stream);
        Some(Guarded {
            stream,
            place,
            evicted: Some(evicted),
            idle: limits.idle,
            silence: Box::pin(tokio::time::sleep(limits.idle)),
        })
    };
    let Some(tls) = tls else {
        let plain =
            tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(move |accepted| {
                match accepted {
                    Err(e) => Some(Err(e)),
                    Ok(stream) => guarded(stream).map(|g| Ok(GrpcConnection::Plain(g))),
                }
            });
        return Box::pin(plain);
    };
    let (ready, handshaken) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server stopped listening: so does this loop.
                _ = ready.closed() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accepting a gRPC connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(connection) = guarded(stream) else {
                continue;
            };
            let (tls, ready) = (tls.clone(), ready.clone());
            tokio::spawn(async move {
                // A silent or stalled handshake fails with the connection's idle limit.
                match tls.accept(connection).await {
                    Ok(stream) => {
                        let _ = ready.send(Ok(GrpcConnection::Tls(Box::new(stream)))).await;
                    }
                    Err(e) => tracing::debug!("a gRPC client's TLS handshake failed: {e}"),
                }
            });
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(handshaken))
}

/// A gRPC connection, plain or over TLS.
pub enum GrpcConnection {
    /// Plain TCP.
    Plain(Guarded),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<Guarded>>),
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConnection::Plain(plain) => Pin::new(plain).poll_read(cx, buf),
            GrpcConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            GrpcConnection::Plain(plain) => Pin::new(plain).poll_write(cx, buf),
            GrpcConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConnection::Plain(plain) => Pin::new(plain).poll_flush(cx),
            GrpcConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            GrpcConnection::Plain(plain) => Pin::new(plain).poll_shutdown(cx),
            GrpcConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            GrpcConnection::Plain(plain) => Pin::new(plain).poll_write_vectored(cx, bufs),
            GrpcConnection::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            GrpcConnection::Plain(plain) => plain.is_write_vectored(),
            GrpcConnection::Tls(tls) => tls.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for GrpcConnection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            GrpcConnection::Plain(plain) => plain.stream.connect_info(),
            GrpcConnection::Tls(tls) => tls.get_ref().0.stream.connect_info(),
        }
    }
}

/// How often the gRPC server pings its clients (see [`grpc_incoming`]).
pub fn grpc_ping_interval() -> Duration {
    PING_EVERY
}

/// A gRPC connection: holds its place on the listener, and fails a read that waits
/// longer than `idle` for a byte, or once the connection is closed to make room.
pub struct Guarded {
    stream: TcpStream,
    place: Place,
    /// Until the first byte arrives, the place can be taken back for a newer connection.
    evicted: Option<oneshot::Receiver<()>>,
    idle: Duration,
    silence: Pin<Box<Sleep>>,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(evicted) = this.evicted.as_mut()
            && let Poll::Ready(fired) = Pin::new(evicted).poll(cx)
        {
            this.evicted = None;
            if fired.is_ok() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed to make room: the listener was full and this connection silent",
                )));
            }
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if this.evicted.is_some() && buf.filled().len() > before {
                    this.place.spoke();
                    this.evicted = None;
                }
                let idle = this.idle;
                this.silence.as_mut().reset(Instant::now() + idle);
                Poll::Ready(result)
            }
            Poll::Pending => match this.silence.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Turns Nagle's algorithm off on an accepted connection: small responses would
/// otherwise wait for the client's delayed ACK (40 ms on Linux) before leaving, which
/// capped a client waiting on each answer at about 25 calls a second.
fn no_delay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_open_file_limit() {
        let idle = Duration::from_secs(30);
        assert_eq!(Limits::from_open_files(1024, idle).max, (1024 - 256) / 2);
        assert_eq!(Limits::from_open_files(1_048_576, idle).max, 10_000);
        assert_eq!(Limits::from_open_files(100, idle).max, 16);
    }
}
