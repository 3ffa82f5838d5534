//! The gRPC services: thin — decode the request, call the language or runtime, encode
//! the answer. Errors become gRPC statuses here and nowhere else.

mod state_machines;

pub use state_machines::StateMachinesService;
