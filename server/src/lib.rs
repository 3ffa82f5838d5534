//! Stepwise server: the Amazon States Language (`asl`), and the gRPC API (`api`) that
//! serves it. See DESIGN.md for the parts still to come (engine, store, runtime).

pub mod api;
pub mod asl;
pub mod config;
pub mod engine;
pub mod runtime;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::{RunningServer, ServerError, start};
