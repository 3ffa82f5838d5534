//! The gRPC services: thin — decode the request, call the runtime, encode the answer.
//! Errors become gRPC statuses in `status` and nowhere else.

mod auth;
mod cluster;
mod convert;
mod executions;
mod keys;
mod state_machines;
mod status;
mod tasks;

pub use auth::{RpcMethod, interceptor};
pub use cluster::ClusterService;
pub use executions::ExecutionsService;
pub use keys::KeysService;
pub use state_machines::StateMachinesService;
pub use tasks::TasksService;

/// Whether another node of the cluster sent this request on (it is then answered from
/// this node's partitions only: `runtime::serve_forwarded`). Only a node may say so.
fn from_peer<T>(request: &tonic::Request<T>) -> bool {
    request
        .metadata()
        .contains_key(crate::runtime::FORWARDED_HEADER)
        && auth::caller(request).is_ok_and(|caller| auth::is_node(&caller))
}

/// Runs a runtime call as the request asks: as a forwarded one when a peer sent it.
async fn on_behalf<F: std::future::Future>(from_peer: bool, call: F) -> F::Output {
    if from_peer {
        crate::runtime::serve_forwarded(call).await
    } else {
        call.await
    }
}

/// The state machine a name or ARN names (InvalidArn for an ARN of another shape).
fn machine_name(
    runtime: &crate::runtime::Runtime,
    name_or_arn: &str,
) -> Result<String, tonic::Status> {
    runtime
        .arns()
        .machine_name(name_or_arn)
        .map_err(status::to_status)
}

/// The state machine of an execution ARN (InvalidArn for another shape).
fn execution_machine(
    runtime: &crate::runtime::Runtime,
    arn: &str,
) -> Result<String, tonic::Status> {
    runtime
        .arns()
        .execution_machine(arn)
        .map_err(status::to_status)
}

/// The activity (queue) a name or activity ARN names.
fn activity_name(
    runtime: &crate::runtime::Runtime,
    name_or_arn: &str,
) -> Result<String, tonic::Status> {
    runtime
        .arns()
        .activity_name(name_or_arn)
        .map_err(status::to_status)
}
