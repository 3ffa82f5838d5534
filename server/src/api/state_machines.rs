//! `stepwise.v1.StateMachines`: create, update, describe, list, delete and validate.

use stepwise_proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::auth::allow;
use super::convert;
use super::machine_name;
use super::status::to_status;
use crate::asl::validate::{self, Severity};
use crate::auth::Action;
use crate::runtime::MachineType;
use crate::runtime::{Runtime, RuntimeError};

/// Serves `stepwise.v1.StateMachines`.
#[derive(Clone)]
pub struct StateMachinesService {
    runtime: Runtime,
}

impl StateMachinesService {
    /// A service over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        StateMachinesService { runtime }
    }
}

/// An InvalidDefinition status that lists every diagnostic, one per line, with its location.
fn definition_status(error: RuntimeError) -> Status {
    match &error {
        RuntimeError::InvalidDefinition(diagnostics) => {
            let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
            Status::invalid_argument(format!(
                "InvalidDefinition: the definition has errors:\n{}",
                lines.join("\n")
            ))
        }
        _ => to_status(error),
    }
}

#[tonic::async_trait]
impl pb::state_machines_server::StateMachines for StateMachinesService {
    async fn create_state_machine(
        &self,
        request: Request<pb::CreateStateMachineRequest>,
    ) -> Result<Response<pb::StateMachine>, Status> {
        let name = &request.get_ref().name;
        allow(&request, "CreateStateMachine", Action::ManageMachine(name))?;
        let request = request.into_inner();
        let machine_type = match request.r#type() {
            pb::StateMachineType::Express => MachineType::Express,
            _ => MachineType::Standard,
        };
        let view = self
            .runtime
            .create_machine(
                &request.name,
                &request.definition,
                machine_type,
                Some(request.role_arn.as_str()).filter(|r| !r.is_empty()),
            )
            .await
            .map_err(definition_status)?;
        Ok(Response::new(convert::machine(view)))
    }

    async fn update_state_machine(
        &self,
        request: Request<pb::UpdateStateMachineRequest>,
    ) -> Result<Response<pb::StateMachine>, Status> {
        let name = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(&request, "UpdateStateMachine", Action::ManageMachine(&name))?;
        let request = request.into_inner();
        let view = self
            .runtime
            .update_machine(
                &request.state_machine,
                &request.definition,
                Some(request.role_arn.as_str()).filter(|r| !r.is_empty()),
            )
            .await
            .map_err(definition_status)?;
        Ok(Response::new(convert::machine(view)))
    }

    async fn describe_state_machine(
        &self,
        request: Request<pb::DescribeStateMachineRequest>,
    ) -> Result<Response<pb::StateMachine>, Status> {
        let name = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(&request, "DescribeStateMachine", Action::ReadMachine(&name))?;
        let view = self
            .runtime
            .describe_machine(&request.into_inner().state_machine)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::machine(view)))
    }

    async fn list_state_machines(
        &self,
        request: Request<pb::ListStateMachinesRequest>,
    ) -> Result<Response<pb::ListStateMachinesResponse>, Status> {
        let caller = allow(&request, "ListStateMachines", Action::ReadListing)?;
        let request = request.into_inner();
        let mut records = self.runtime.list_machines().await.map_err(to_status)?;
        records.retain(|record| caller.may_see(&record.name));
        let (page, next_token) = convert::page(records, request.max_results, &request.next_token)?;
        let mut state_machines = Vec::with_capacity(page.len());
        for record in page {
            state_machines.push(convert::machine(
                self.runtime
                    .describe_machine(&record.name)
                    .await
                    .map_err(to_status)?,
            ));
        }
        Ok(Response::new(pb::ListStateMachinesResponse {
            state_machines,
            next_token,
        }))
    }

    async fn delete_state_machine(
        &self,
        request: Request<pb::DeleteStateMachineRequest>,
    ) -> Result<Response<pb::DeleteStateMachineResponse>, Status> {
        let name = machine_name(&self.runtime, &request.get_ref().state_machine)?;
        allow(&request, "DeleteStateMachine", Action::ManageMachine(&name))?;
        self.runtime
            .delete_machine(&request.into_inner().state_machine)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DeleteStateMachineResponse {}))
    }

    async fn validate_state_machine_definition(
        &self,
        request: Request<pb::ValidateStateMachineDefinitionRequest>,
    ) -> Result<Response<pb::ValidateStateMachineDefinitionResponse>, Status> {
        allow(
            &request,
            "ValidateStateMachineDefinition",
            Action::ReadListing,
        )?;
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
            diagnostics: diagnostics.iter().map(convert::diagnostic).collect(),
        }))
    }
}
