//! A typed async client for the Stepwise gRPC API, and the pieces of the `stepwise` CLI
//! that are worth reusing (graph rendering).

pub mod bench;
pub mod graph;

use std::time::Duration;

use stepwise_proto::key::{KeyedChannel, PresentKey};
pub use stepwise_proto::tls::{ClientTls, ClientTlsError};
use stepwise_proto::v1 as pb;
use stepwise_proto::v1::executions_client::ExecutionsClient;
use stepwise_proto::v1::keys_client::KeysClient;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use stepwise_proto::v1::tasks_client::TasksClient;

pub use stepwise_proto::v1::{Diagnostic, Severity, ValidationResult};

/// The address a local server listens on by default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7837";

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a valid URL, or its TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] ClientTlsError),
    /// No server answered at the endpoint.
    #[error(
        "cannot reach the Stepwise server at {endpoint}: {} (is `stepwise-server` running, and does the endpoint's scheme, http or https, match its TLS?)",
        causes(.source)
    )]
    Unreachable {
        /// Where we tried.
        endpoint: String,
        /// The transport's reason.
        source: tonic::transport::Error,
    },
    /// The key is not `KEY_ID:SECRET`.
    #[error(transparent)]
    InvalidKey(#[from] stepwise_proto::key::InvalidKey),
    /// The server answered with an error status.
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
}

/// An error and each of its causes (a transport error says little alone: the TLS
/// refusal that caused it is further down).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The outcome of validating a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Whether the definition can be used (warnings allowed).
    pub ok: bool,
    /// Every diagnostic, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// A connection to a Stepwise server: the services of the contract, each call carrying
/// the key the client was made with.
#[derive(Debug, Clone)]
pub struct Client {
    /// `stepwise.v1.StateMachines`.
    pub state_machines: StateMachinesClient<KeyedChannel>,
    /// `stepwise.v1.Executions`.
    pub executions: ExecutionsClient<KeyedChannel>,
    /// `stepwise.v1.Tasks`.
    pub tasks: TasksClient<KeyedChannel>,
    /// `stepwise.v1.Keys`.
    pub keys: KeysClient<KeyedChannel>,
}

impl Client {
    /// Connects to `endpoint`, e.g. `http://127.0.0.1:7837`, presenting no key.
    pub async fn connect(endpoint: &str) -> Result<Client, ClientError> {
        Client::connect_with_key(endpoint, None).await
    }

    /// Connects to `endpoint`, presenting `key` (`KEY_ID:SECRET`) on every call.
    pub async fn connect_with_key(
        endpoint: &str,
        key: Option<&str>,
    ) -> Result<Client, ClientError> {
        Client::connect_with(endpoint, key, &ClientTls::default()).await
    }

    /// Connects to `endpoint` (over TLS for `https://`, with `tls`'s files), presenting
    /// `key` on every call.
    pub async fn connect_with(
        endpoint: &str,
        key: Option<&str>,
        tls: &ClientTls,
    ) -> Result<Client, ClientError> {
        let key = PresentKey::new(key)?;
        let channel =
            tls.endpoint(endpoint)?
                .connect()
                .await
                .map_err(|source| ClientError::Unreachable {
                    endpoint: endpoint.to_string(),
                    source,
                })?;
        let channel = key.on(channel);
        Ok(Client {
            state_machines: StateMachinesClient::new(channel.clone()),
            executions: ExecutionsClient::new(channel.clone()),
            tasks: TasksClient::new(channel.clone()),
            keys: KeysClient::new(channel),
        })
    }

    /// Validates a definition on the server.
    pub async fn validate(&mut self, definition: &str) -> Result<Validation, ClientError> {
        let response = self
            .state_machines
            .validate_state_machine_definition(pb::ValidateStateMachineDefinitionRequest {
                definition: definition.to_string(),
            })
            .await?
            .into_inner();
        Ok(Validation {
            ok: response.result() == ValidationResult::Ok,
            diagnostics: response.diagnostics,
        })
    }

    /// An execution's description.
    pub async fn describe(&mut self, arn: &str) -> Result<pb::Execution, ClientError> {
        Ok(self
            .executions
            .describe_execution(pb::DescribeExecutionRequest {
                execution_arn: arn.to_string(),
            })
            .await?
            .into_inner())
    }

    /// An execution's whole history, page after page.
    pub async fn history(
        &mut self,
        arn: &str,
        reverse: bool,
    ) -> Result<Vec<pb::HistoryEvent>, ClientError> {
        let mut events = Vec::new();
        let mut next_token = String::new();
        loop {
            let page = self
                .executions
                .get_execution_history(pb::GetExecutionHistoryRequest {
                    execution_arn: arn.to_string(),
                    max_results: 1000,
                    next_token,
                    reverse_order: reverse,
                    exclude_execution_data: false,
                })
                .await?
                .into_inner();
            events.extend(page.events);
            if page.next_token.is_empty() {
                return Ok(events);
            }
            next_token = page.next_token;
        }
    }

    /// Waits until an execution ends, polling its status.
    pub async fn wait(&mut self, arn: &str) -> Result<pb::Execution, ClientError> {
        loop {
            let execution = self.describe(arn).await?;
            if execution.status() != pb::ExecutionStatus::Running {
                return Ok(execution);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
