//! Stepwise server. Data flows one way: `api` (gRPC) → `runtime` (running executions,
//! group commit, timers, task queues, recovery) → `engine` (pure interpreter over the
//! language in `asl`) → `store` (sled behind a trait).

pub mod allocation;
pub mod api;
pub mod asl;
pub mod auth;
pub mod aws;
pub mod billing;
pub mod config;
pub mod connections;
pub mod console;
pub mod engine;
#[cfg(test)]
mod examples;
pub mod memory;
pub mod placement;
pub mod runtime;
pub mod server;
pub mod store;
pub mod tls;
pub mod wildcard;

/// The system allocator, counting what an evaluation holds (see `allocation`).
#[global_allocator]
static ALLOCATOR: allocation::CountingAllocator = allocation::CountingAllocator;

pub use config::Config;
pub use server::{RunningServer, ServerError, start};
