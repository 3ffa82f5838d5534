//! Calls a node passes to the node that owns the execution's partition, over the same
//! gRPC API clients use (plus `Cluster.TakeTask`). A forwarded request carries
//! `FORWARDED_HEADER`, and the node that receives it answers from its own partitions
//! only: a call moves at most one hop, even while two nodes disagree about an owner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use stepwise_proto::v1 as pb;
use tonic::transport::{Channel, Endpoint};

use super::RuntimeError;
use super::queues::Offer;
use crate::auth::Caller;

/// The metadata key of a forwarded request.
pub const FORWARDED_HEADER: &str = "stepwise-forwarded";

/// The metadata key of the caller a node forwards a task's result for: the node that
/// owns the task decides whether that caller may work on its queue (`Caller::to_header`).
pub const CALLER_HEADER: &str = "stepwise-caller";

tokio::task_local! {
    /// Set while the runtime serves a request another node forwarded.
    static FORWARDED: bool;
}

/// Runs `call` as the answer to a forwarded request: it will not be forwarded again.
pub async fn serve_forwarded<F: std::future::Future>(call: F) -> F::Output {
    FORWARDED.scope(true, call).await
}

/// Whether the running call was forwarded by another node.
pub(super) fn is_forwarded() -> bool {
    FORWARDED.try_with(|forwarded| *forwarded).unwrap_or(false)
}

/// How long a forwarded call may take before it is sent again, to whichever node owns
/// the partition by then (each is one commit on the owner; a node that takes longer is
/// paused or cut off).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a peer may take to answer `TakeTask` before a poll moves on to the next.
const TAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// A runtime error from a peer's gRPC status: the AWS code leads its message
/// (`api/status.rs`), so the caller's API answers with the same code.
fn from_status(status: tonic::Status) -> RuntimeError {
    let message = status.message().to_string();
    let (code, text) = message
        .split_once(": ")
        .map_or(("", message.as_str()), |(code, text)| (code, text));
    let text = text.to_string();
    match code {
        "StateMachineDoesNotExist" => RuntimeError::MachineNotFound(text),
        "ExecutionDoesNotExist" => RuntimeError::ExecutionNotFound(text),
        "ActivityDoesNotExist" => RuntimeError::ActivityNotFound(text),
        "TaskDoesNotExist" => RuntimeError::TaskDoesNotExist(text),
        "TaskTimedOut" => RuntimeError::TaskTimedOut(text),
        "ExecutionAlreadyExists" => RuntimeError::ExecutionAlreadyExists(text),
        "StateMachineTypeNotSupported" => RuntimeError::MachineTypeNotSupported(text),
        "InvalidName" => RuntimeError::InvalidName(text),
        "InvalidArn" => RuntimeError::InvalidArn(text),
        "InvalidExecutionInput" => RuntimeError::InvalidInput(text),
        "InvalidOutput" => RuntimeError::InvalidOutput(text),
        "ValidationException" => RuntimeError::InvalidArgument(text),
        "InvalidState" => RuntimeError::FailedPrecondition(text),
        "InternalFailure" => RuntimeError::Damaged(text),
        "AccessDeniedException" => RuntimeError::Denied(text),
        _ => RuntimeError::Unavailable(format!(
            "the node that owns the execution did not answer: {message}"
        )),
    }
}

/// A forwarded request that carries the caller it acts for.
fn acting_for<T>(mut request: tonic::Request<T>, caller: &Caller) -> tonic::Request<T> {
    if caller.checked {
        let value = caller
            .to_header()
            .parse()
            .expect("base64 is a valid header value");
        request.metadata_mut().insert(CALLER_HEADER, value);
    }
    request
}

/// Connections to the other nodes, by gRPC address (opened on first use, kept), and the
/// credential this node presents to them.
pub(super) struct Peers {
    channels: Mutex<HashMap<String, Channel>>,
    /// `authorization: Bearer stepwise-node:SECRET`.
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    /// TLS to the other nodes, when they serve it.
    tls: Option<super::cluster::PeerTls>,
}

impl Peers {
    /// Peers that accept this node by the cluster's secret, reached over TLS if `tls`.
    pub fn new(cluster_secret: String, tls: Option<super::cluster::PeerTls>) -> Peers {
        let header = format!("Bearer {}:{cluster_secret}", crate::auth::keys::NODE_KEY_ID);
        Peers {
            channels: Mutex::default(),
            authorization: header
                .parse()
                .expect("the cluster secret is letters and digits"),
            tls,
        }
    }

    fn forwarded<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(FORWARD_TIMEOUT);
        self.stamped(request)
    }

    fn stamped<T>(&self, mut request: tonic::Request<T>) -> tonic::Request<T> {
        let metadata = request.metadata_mut();
        metadata.insert(
            FORWARDED_HEADER,
            tonic::metadata::MetadataValue::from_static("1"),
        );
        metadata.insert("authorization", self.authorization.clone());
        stepwise_proto::trace::inject(metadata);
        request
    }

    fn channel(&self, addr: &str) -> Result<Channel, RuntimeError> {
        let mut channels = self.channels.lock().expect("peers lock");
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let invalid = |e: tonic::transport::Error| {
            RuntimeError::Unavailable(format!("a node's address {addr} cannot be used: {e}"))
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}")).map_err(invalid)?;
        if let Some(tls) = &self.tls {
            let mut config = tonic::transport::ClientTlsConfig::new();
            config = match &tls.ca {
                Some(ca) => config.ca_certificate(tonic::transport::Certificate::from_pem(ca)),
                None => config.with_native_roots(),
            };
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint = endpoint.tls_config(config).map_err(invalid)?;
        }
        let channel = endpoint
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// StartExecution on the owner.
    pub async fn start_execution(
        &self,
        addr: &str,
        machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<(String, i64), RuntimeError> {
        let mut client = pb::executions_client::ExecutionsClient::new(self.channel(addr)?);
        let response = client
            .start_execution(self.forwarded(pb::StartExecutionRequest {
                state_machine: machine.to_string(),
                name: name.unwrap_or_default().to_string(),
                input: input.to_string(),
            }))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok((response.execution_arn, response.start_time_ms))
    }

    /// StopExecution on the owner.
    pub async fn stop_execution(
        &self,
        addr: &str,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<i64, RuntimeError> {
        let mut client = pb::executions_client::ExecutionsClient::new(self.channel(addr)?);
        let response = client
            .stop_execution(self.forwarded(pb::StopExecutionRequest {
                execution_arn: arn.to_string(),
                error,
                cause,
            }))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(response.stop_time_ms)
    }

    /// SendTaskSuccess on the owner.
    pub async fn send_success(
        &self,
        addr: &str,
        token: &str,
        output: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let mut client = pb::tasks_client::TasksClient::new(self.channel(addr)?);
        let request = self.forwarded(pb::SendTaskSuccessRequest {
            token: token.to_string(),
            output: output.to_string(),
        });
        client
            .send_task_success(acting_for(request, caller))
            .await
            .map_err(from_status)?;
        Ok(())
    }

    /// SendTaskFailure on the owner.
    pub async fn send_failure(
        &self,
        addr: &str,
        token: &str,
        error: &str,
        cause: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let mut client = pb::tasks_client::TasksClient::new(self.channel(addr)?);
        let request = self.forwarded(pb::SendTaskFailureRequest {
            token: token.to_string(),
            error: error.to_string(),
            cause: cause.to_string(),
        });
        client
            .send_task_failure(acting_for(request, caller))
            .await
            .map_err(from_status)?;
        Ok(())
    }

    /// SendTaskHeartbeat on the owner.
    pub async fn heartbeat(
        &self,
        addr: &str,
        token: &str,
        caller: &Caller,
    ) -> Result<(), RuntimeError> {
        let mut client = pb::tasks_client::TasksClient::new(self.channel(addr)?);
        let request = self.forwarded(pb::SendTaskHeartbeatRequest {
            token: token.to_string(),
        });
        client
            .send_task_heartbeat(acting_for(request, caller))
            .await
            .map_err(from_status)?;
        Ok(())
    }

    /// The owner's live history feed of an execution (a stream of its gRPC messages).
    pub async fn watch(
        &self,
        addr: &str,
        arn: &str,
        exclude_execution_data: bool,
    ) -> Result<tonic::Streaming<pb::HistoryEvent>, RuntimeError> {
        let mut client = pb::executions_client::ExecutionsClient::new(self.channel(addr)?);
        // No deadline: a watch lasts as long as its execution runs.
        let request = self.stamped(tonic::Request::new(pb::WatchExecutionHistoryRequest {
            execution_arn: arn.to_string(),
            exclude_execution_data,
        }));
        Ok(client
            .watch_execution_history(request)
            .await
            .map_err(from_status)?
            .into_inner())
    }

    /// What a peer serves now.
    pub async fn node_status(&self, addr: &str) -> Result<pb::NodeStatusResponse, RuntimeError> {
        let mut client = pb::cluster_client::ClusterClient::new(self.channel(addr)?);
        let mut request = tonic::Request::new(pb::NodeStatusRequest {});
        request.set_timeout(TAKE_TIMEOUT);
        Ok(client
            .node_status(self.stamped(request))
            .await
            .map_err(from_status)?
            .into_inner())
    }

    /// A task from a peer's queues, started for `worker_name`, or none at once.
    pub async fn take_task(
        &self,
        addr: &str,
        queues: &[String],
        worker_name: &str,
        poll_id: Option<&str>,
    ) -> Result<Option<Offer>, RuntimeError> {
        let mut client = pb::cluster_client::ClusterClient::new(self.channel(addr)?);
        let mut request = tonic::Request::new(pb::PollTaskRequest {
            queues: queues.to_vec(),
            worker_name: worker_name.to_string(),
            wait_seconds: 0,
            poll_id: poll_id.unwrap_or_default().to_string(),
        });
        request.set_timeout(TAKE_TIMEOUT);
        let task = client
            .take_task(self.stamped(request))
            .await
            .map_err(from_status)?
            .into_inner();
        if task.token.is_empty() {
            return Ok(None);
        }
        let input = serde_json::from_str(&task.input).map_err(|e| {
            RuntimeError::Unavailable(format!("a node sent a task whose input is not JSON: {e}"))
        })?;
        Ok(Some(Offer {
            token: task.token,
            queue: task.queue,
            execution: task.execution_arn,
            state_name: task.state_name,
            input,
            heartbeat_seconds: task.heartbeat_seconds,
            timeout_seconds: task.timeout_seconds,
            traceparent: (!task.traceparent.is_empty()).then_some(task.traceparent),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_status_keeps_its_aws_code() {
        let status =
            tonic::Status::failed_precondition("TaskTimedOut: the task already has its result");
        assert!(
            matches!(from_status(status), RuntimeError::TaskTimedOut(m) if m == "the task already has its result")
        );
        let status = tonic::Status::unavailable("connection refused");
        let error = from_status(status);
        assert!(
            matches!(&error, RuntimeError::Unavailable(m) if m.contains("connection refused")),
            "{error}"
        );
        assert_eq!(error.aws_code(), "ServiceUnavailable");
    }
}
