//! A typed async client for the Stepwise gRPC API.

use stepwise_proto::v1 as pb;
use stepwise_proto::v1::state_machines_client::StateMachinesClient;
use tonic::transport::{Channel, Endpoint};

pub use stepwise_proto::v1::{Diagnostic, Severity, ValidationResult};

/// The address a local server listens on by default.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7837";

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a valid URL.
    #[error("'{endpoint}' is not a valid endpoint URL: {source}")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
        /// Why it is invalid.
        source: tonic::transport::Error,
    },
    /// No server answered at the endpoint.
    #[error(
        "cannot reach the Stepwise server at {endpoint}: {source} (is `stepwise-server` running?)"
    )]
    Unreachable {
        /// Where we tried.
        endpoint: String,
        /// The transport's reason.
        source: tonic::transport::Error,
    },
    /// The server answered with an error status.
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
}

/// The outcome of validating a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Whether the definition can be used (warnings allowed).
    pub ok: bool,
    /// Every diagnostic, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// A connection to a Stepwise server.
#[derive(Debug, Clone)]
pub struct Client {
    state_machines: StateMachinesClient<Channel>,
}

impl Client {
    /// Connects to `endpoint`, e.g. `http://127.0.0.1:7837`.
    pub async fn connect(endpoint: &str) -> Result<Client, ClientError> {
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|source| ClientError::InvalidEndpoint {
                endpoint: endpoint.to_string(),
                source,
            })?
            .connect()
            .await
            .map_err(|source| ClientError::Unreachable {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Ok(Client {
            state_machines: StateMachinesClient::new(channel),
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
}
