//! `stepwise.v1.StateMachines`: definition validation.

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::asl::validate::{self, Diagnostic, Severity};

/// Serves `stepwise.v1.StateMachines`.
#[derive(Debug, Default, Clone)]
pub struct StateMachinesService;

#[tonic::async_trait]
impl pb::state_machines_server::StateMachines for StateMachinesService {
    async fn validate_state_machine_definition(
        &self,
        request: Request<pb::ValidateStateMachineDefinitionRequest>,
    ) -> Result<Response<pb::ValidateStateMachineDefinitionResponse>, Status> {
        let definition = request.into_inner().definition;
        let diagnostics = validate::validate(&definition);
        let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
        let result = if failed {
            pb::ValidationResult::Fail
        } else {
            pb::ValidationResult::Ok
        };
        Ok(Response::new(pb::ValidateStateMachineDefinitionResponse {
            result: result.into(),
            diagnostics: diagnostics.iter().map(to_proto).collect(),
        }))
    }
}

/// A diagnostic as the contract carries it.
pub(crate) fn to_proto(diagnostic: &Diagnostic) -> pb::Diagnostic {
    let severity = match diagnostic.severity {
        Severity::Error => pb::Severity::Error,
        Severity::Warning => pb::Severity::Warning,
    };
    pb::Diagnostic {
        severity: severity.into(),
        code: diagnostic.code.as_str().to_string(),
        location: diagnostic.location.clone(),
        message: diagnostic.message.clone(),
    }
}
