//! `stepwise-server`: runs the Stepwise API until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use stepwise_server::Config;

/// How long the process waits, once the server has stopped, for threads still blocked
/// in I/O (a store on a failing disk) before it exits anyway.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let config = Config::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("stepwise-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config));
    // Dropping the runtime would wait for blocking threads without limit.
    runtime.shutdown_timeout(EXIT_LIMIT);
    code
}

async fn serve(config: Config) -> ExitCode {
    let _telemetry = match stepwise_proto::trace::init(
        "stepwise-server",
        config.otlp_endpoint.as_deref(),
        config.log_format == "json",
    ) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("stepwise-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Listen for signals before the ports open, so a stop request that arrives during
    // recovery is not lost (the default action would kill the process mid-start).
    let signals = Signals::listen();
    let server = match stepwise_server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("stepwise-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    signals.wait().await;
    tracing::info!("shutting down: finishing requests in flight");
    match server.shutdown().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, registered as soon as the process starts.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(
                        "cannot listen for SIGINT/SIGTERM ({e}); falling back to Ctrl-C"
                    );
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on the first SIGINT or SIGTERM.
    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
