//! Server configuration: one struct, with defaults, documented in `--help`.

use std::net::SocketAddr;

use clap::Parser;

/// How to run `stepwise-server`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stepwise-server",
    version,
    about = "Stepwise: durable execution of Amazon States Language workflows"
)]
pub struct Config {
    /// Address of the gRPC API (loopback by default; use 0.0.0.0 to listen on every interface).
    #[arg(long, default_value = "127.0.0.1:7837", env = "STEPWISE_GRPC_ADDR")]
    pub grpc_addr: SocketAddr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 7837)),
        }
    }
}
