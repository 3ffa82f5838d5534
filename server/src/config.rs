//! Server configuration: one struct, with defaults, documented in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// How to run `stepwise-server`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stepwise-server",
    version,
    about = "Stepwise: durable execution of Amazon States Language workflows"
)]
pub struct Config {
    /// Where the embedded store keeps its data (created if missing).
    #[arg(long, default_value = "./stepwise-data", env = "STEPWISE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database instead of the data directory
    /// (`postgres://USER[:PASSWORD]@HOST:PORT/DB`); the server creates and migrates its
    /// schema. Unset: the embedded store in --data-dir.
    #[arg(long, env = "STEPWISE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address of the gRPC API (loopback by default; any other address needs
    /// --admin-credentials or --insecure).
    #[arg(long, default_value = "127.0.0.1:7837", env = "STEPWISE_GRPC_ADDR")]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP listener: the console, the AWS API, `/health`, `/metrics`
    /// (loopback by default; any other address needs --admin-credentials or --insecure).
    #[arg(long, default_value = "127.0.0.1:7838", env = "STEPWISE_HTTP_ADDR")]
    pub http_addr: SocketAddr,
    /// The most memory the store's page cache may use, in MiB (sled's default: 1024).
    #[arg(long, default_value_t = 1024, env = "STEPWISE_STORE_CACHE_MB")]
    pub store_cache_mb: u64,
    /// The region written into ARNs.
    #[arg(long, default_value = "us-east-1", env = "STEPWISE_REGION")]
    pub region: String,
    /// The account id written into ARNs.
    #[arg(long, default_value = "000000000000", env = "STEPWISE_ACCOUNT_ID")]
    pub account_id: String,
    /// The most history events one execution may have; reaching it fails the execution
    /// (AWS's quota is 25,000).
    #[arg(long, default_value_t = 25_000, env = "STEPWISE_MAX_HISTORY_EVENTS")]
    pub max_history_events: u64,
    /// The longest an Express execution may run, in seconds (AWS: 300).
    #[arg(long, default_value_t = 300, env = "STEPWISE_EXPRESS_MAX_SECONDS")]
    pub express_max_seconds: u64,
    /// How many finished Express executions stay inspectable in memory.
    #[arg(long, default_value_t = 1000, env = "STEPWISE_EXPRESS_HISTORY")]
    pub express_history: usize,
    /// A JSON price table for usage estimates (fields `standard_transition`,
    /// `express_request`, `express_gb_hour_tiers`); AWS's us-east-1 list prices by default.
    #[arg(long, env = "STEPWISE_PRICE_TABLE")]
    pub price_table: Option<PathBuf>,
    /// Log format on stderr: text or json (level via RUST_LOG).
    #[arg(long, default_value = "text", value_parser = ["text", "json"], env = "STEPWISE_LOG_FORMAT")]
    pub log_format: String,
    /// Export traces over OTLP/gRPC to this collector (also `OTEL_EXPORTER_OTLP_ENDPOINT`).
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Seconds a connection may stay silent: an HTTP request's head must arrive within
    /// this of the connection opening or the previous answer; a gRPC connection that
    /// answers nothing (not even the server's pings) for this long is closed.
    #[arg(long, default_value_t = 30, env = "STEPWISE_CONNECTION_IDLE_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub connection_idle_seconds: u64,
    /// The most open connections per listener (default: from the open-file limit,
    /// which start-up raises to its hard limit).
    #[arg(long, env = "STEPWISE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// How many partitions a new data directory gets (executions are spread over them by
    /// a hash of their ARN; each runs its engine steps independently). Recorded at
    /// creation: a directory keeps its count whatever this says later.
    #[arg(long, default_value_t = crate::placement::DEFAULT_PARTITIONS, env = "STEPWISE_PARTITIONS",
          value_parser = clap::value_parser!(u16).range(1..=crate::placement::MAX_PARTITIONS as i64))]
    pub partitions: u16,
    /// This node's id in a cluster (nodes sharing one --database-url); a restarted node
    /// with the same id takes its partitions back at once. Default: the host name and
    /// the gRPC port.
    #[arg(long, env = "STEPWISE_NODE_ID")]
    pub node_id: Option<String>,
    /// The host the other nodes of a cluster reach this one at. Default: the gRPC
    /// listener's address, or the host name when it listens on every interface.
    #[arg(long, env = "STEPWISE_ADVERTISE_HOST")]
    pub advertise_host: Option<String>,
    /// Seconds a node's partition leases last without renewal (renewed every third of
    /// it): a node that dies or is cut off has its partitions taken over after this.
    #[arg(long, default_value_t = 10, env = "STEPWISE_LEASE_SECONDS",
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_seconds: u64,
    /// The admin credential, in an AWS credentials file (its `[default]` section's
    /// aws_access_key_id and aws_secret_access_key). With it, or with keys made by
    /// `stepwise key create`, every call must present a key.
    #[arg(long, env = "STEPWISE_ADMIN_CREDENTIALS")]
    pub admin_credentials: Option<PathBuf>,
    /// Serve both listeners over TLS with this certificate chain (PEM, the server's own
    /// certificate first); read again on SIGHUP and when the file changes.
    #[arg(long, env = "STEPWISE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "STEPWISE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require gRPC clients to present a certificate signed by one of these CAs (PEM):
    /// mutual TLS, for workers on other machines. The HTTP listener never asks for one.
    #[arg(long, env = "STEPWISE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// CA certificates (PEM) the nodes' certificates chain to, for the calls the nodes of
    /// a cluster make to each other over TLS (default: the system's CAs).
    #[arg(long, env = "STEPWISE_TLS_CA", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
    /// Listen on addresses other than loopback without --admin-credentials, although
    /// then nothing may check who calls: whoever reaches the ports may start, stop and
    /// read every execution and complete any task. Without it (or the credentials) the
    /// server refuses such addresses.
    #[arg(long, env = "STEPWISE_INSECURE")]
    pub insecure: bool,
}

impl Config {
    /// Defaults with a given data directory and ephemeral loopback ports (for tests).
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            store_cache_mb: 1024,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            max_history_events: 25_000,
            express_max_seconds: 300,
            express_history: 1000,
            price_table: None,
            log_format: "text".into(),
            otlp_endpoint: None,
            connection_idle_seconds: 30,
            max_connections: None,
            partitions: crate::placement::DEFAULT_PARTITIONS,
            node_id: None,
            advertise_host: None,
            lease_seconds: 10,
            admin_credentials: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_ca: None,
            insecure: false,
        }
    }

    /// The listeners beyond loopback, by flag: the addresses anyone on the network
    /// could call.
    pub fn exposed_listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        [
            ("--grpc-addr", self.grpc_addr),
            ("--http-addr", self.http_addr),
        ]
        .into_iter()
        .filter(|(_, addr)| !is_loopback(addr.ip()))
        .collect()
    }

    /// The TLS files, when TLS is on.
    pub fn tls_files(&self) -> Option<crate::tls::TlsFiles> {
        Some(crate::tls::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }

    /// Refuses listeners beyond loopback unless `--insecure` accepts that nothing
    /// checks who calls them.
    pub fn check_exposure(&self) -> Result<(), String> {
        let exposed = self.exposed_listeners();
        let Some((flag, addr)) = exposed.first() else {
            return Ok(());
        };
        if self.insecure || self.admin_credentials.is_some() {
            return Ok(());
        }
        Err(format!(
            "refusing to listen on {addr} ({flag}): without --admin-credentials the server \
             checks no identity, so anyone who can reach that address could start, stop and \
             read every execution and complete any task. Listen on a loopback address \
             (127.0.0.1, ::1), give --admin-credentials FILE (keys are then required), or \
             pass --insecure (STEPWISE_INSECURE=true) to accept that"
        ))
    }
}

/// Whether `ip` is reached from this machine only (an IPv4 loopback written as IPv6
/// included).
fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(grpc: &str, http: &str, insecure: bool) -> Config {
        Config {
            grpc_addr: grpc.parse().unwrap(),
            http_addr: http.parse().unwrap(),
            insecure,
            ..Config::ephemeral("unused")
        }
    }

    #[test]
    fn loopback_listeners_need_nothing() {
        for (grpc, http) in [
            ("127.0.0.1:7837", "127.0.0.1:7838"),
            ("127.8.9.10:1", "[::1]:2"),
            ("[::ffff:127.0.0.1]:1", "127.0.0.1:0"),
        ] {
            assert_eq!(
                listening(grpc, http, false).check_exposure(),
                Ok(()),
                "{grpc} {http}"
            );
        }
    }

    #[test]
    fn any_other_listener_is_refused_by_flag_unless_insecure() {
        for (grpc, http, flag) in [
            ("0.0.0.0:7837", "127.0.0.1:7838", "--grpc-addr"),
            ("127.0.0.1:7837", "[::]:7838", "--http-addr"),
            ("127.0.0.1:7837", "192.168.1.20:7838", "--http-addr"),
            ("[::ffff:10.0.0.1]:7837", "127.0.0.1:7838", "--grpc-addr"),
        ] {
            let refused = listening(grpc, http, false).check_exposure().unwrap_err();
            assert!(
                refused.contains(flag) && refused.contains("--insecure"),
                "{refused}"
            );
            assert_eq!(listening(grpc, http, true).check_exposure(), Ok(()));
            assert_eq!(listening(grpc, http, true).exposed_listeners().len(), 1);
            let with_keys = Config {
                admin_credentials: Some("admin.ini".into()),
                ..listening(grpc, http, false)
            };
            assert_eq!(with_keys.check_exposure(), Ok(()), "keys are required");
        }
    }
}
