//! The `stepwise-server` binary as a child process, for tests that kill it, limit it or
//! start it twice on one data directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server child process on fixed loopback ports (kept across restarts so clients can
/// reconnect to the same address).
pub struct ServerProcess {
    pub child: Child,
    pub grpc: String,
    pub http: String,
    /// A shell prefix run before the server (`ulimit ...`), kept across restarts.
    pub prelude: Option<String>,
    /// More command-line flags, kept across restarts.
    pub flags: Vec<String>,
}

/// Whether this machine lets an unprivileged process mount a tmpfs in a namespace of
/// its own (`unshare -rm`), which [`ServerProcess::start_on_tmpfs`] needs.
pub fn tmpfs_available() -> bool {
    Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\"",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The server binary on a data directory and two addresses.
pub fn server_command(dir: &Path, grpc: &str, http: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stepwise-server"));
    command.args([
        "--data-dir",
        &dir.display().to_string(),
        "--grpc-addr",
        grpc,
        "--http-addr",
        http,
    ]);
    if let Some(url) = super::database_url(dir) {
        command.args(["--database-url", &url, "--node-id", super::SUITE_NODE]);
    }
    command
}

/// Runs the server on free ports until it exits (for starts that must be refused).
pub fn run_until_exit(dir: &Path) -> std::process::Output {
    let grpc = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    server_command(dir, &grpc, &http).output().unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServerProcess {
    fn spawn(dir: &Path, grpc: &str, http: &str, prelude: Option<&str>, flags: &[String]) -> Child {
        let mut server = server_command(dir, grpc, http);
        server.args(flags);
        let mut command = match prelude {
            None => server,
            Some(prelude) => {
                // Through a shell so limits set with `ulimit` apply to the server only.
                // A prelude ending in `exec ... "$@"`-style launcher takes the server as
                // its arguments; any other runs first, then the server replaces the shell.
                let joiner = if prelude.starts_with("exec ") {
                    " "
                } else {
                    "; exec "
                };
                let mut line = format!("{prelude}{joiner}'{}'", server.get_program().display());
                for arg in server.get_args() {
                    line.push_str(&format!(" '{}'", arg.to_string_lossy()));
                }
                let mut shell = Command::new("bash");
                shell.args(["-c", &line]);
                shell
            }
        };
        command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts")
    }

    /// Starts the server on free ports and waits until it accepts connections.
    pub async fn start(dir: &Path) -> ServerProcess {
        Self::start_with(dir, None).await
    }

    /// Starts the server after a shell `prelude` (e.g. `ulimit -f 2048`).
    pub async fn start_with(dir: &Path, prelude: Option<&str>) -> ServerProcess {
        Self::start_with_flags(dir, prelude, &[]).await
    }

    /// Starts the server after a shell `prelude` with more command-line `flags`.
    pub async fn start_with_flags(
        dir: &Path,
        prelude: Option<&str>,
        flags: &[&str],
    ) -> ServerProcess {
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let child = Self::spawn(dir, &grpc, &http, prelude, &flags);
        let mut server = ServerProcess {
            child,
            grpc,
            http,
            prelude: prelude.map(str::to_string),
            flags,
        };
        server.wait_ready().await;
        server
    }

    /// Starts the server on a tmpfs of `megabytes` mounted over `dir`, in a mount
    /// namespace of its own (`unshare -rm`): a small disk that really fills up (ENOSPC),
    /// gone when the server exits.
    pub async fn start_on_tmpfs(dir: &Path, megabytes: u32) -> ServerProcess {
        let prelude = format!(
            "exec unshare -rm sh -c 'mount -t tmpfs -o size={megabytes}m tmpfs \"$0\" && exec \"$@\"' '{}'",
            dir.display()
        );
        Self::start_with(dir, Some(&prelude)).await
    }

    /// Starts the server again on the same directory and ports.
    pub async fn restart(&mut self, dir: &Path) {
        self.child = Self::spawn(
            dir,
            &self.grpc,
            &self.http,
            self.prelude.as_deref(),
            &self.flags,
        );
        self.wait_ready().await;
    }

    /// Starts the server again without waiting for it to accept connections.
    pub fn respawn(&mut self, dir: &Path) {
        self.child = Self::spawn(
            dir,
            &self.grpc,
            &self.http,
            self.prelude.as_deref(),
            &self.flags,
        );
    }

    /// Waits until the server accepts connections; a server that exits instead fails the
    /// test at once with its exit status and the end of what it wrote to stderr.
    pub async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&self.grpc).await.is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut said = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = stderr.read_to_string(&mut said);
                }
                let tail: String = said
                    .chars()
                    .rev()
                    .take(4000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!("the server exited instead of coming up ({status}):\n{tail}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not come up within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (a graceful shutdown) without waiting.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator (xorshift) for kill times and choices, seeded and
/// printed so a failure can be rerun.
pub fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A seed from `STEPWISE_SEED` or the clock (never 0, which xorshift cannot leave).
pub fn seed() -> u64 {
    std::env::var("STEPWISE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1
}

/// A process's resident set size in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// Waits (bounded) for the child to exit on its own.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
