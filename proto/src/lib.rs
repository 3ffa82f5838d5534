//! The Stepwise gRPC contract (package `stepwise.v1`): messages and the client and
//! server code tonic generates for them, from `proto/stepwise/v1/stepwise.proto`.

/// Package `stepwise.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("stepwise.v1");
}
pub mod key;
pub mod tls;
pub mod trace;
