//! The gRPC services: thin — decode the request, call the runtime, encode the answer.
//! Errors become gRPC statuses in `status` and nowhere else.

mod convert;
mod executions;
mod state_machines;
mod status;
mod tasks;

pub use executions::ExecutionsService;
pub use state_machines::StateMachinesService;
pub use tasks::TasksService;
