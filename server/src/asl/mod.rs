//! The Amazon States Language: reading a definition into typed states, validating it
//! with diagnostics a person can act on, and computing — purely, with no I/O, clock or
//! randomness of its own — what each state does to its data.
//!
//! The module tree follows the specification's table of contents: `states/` has one file
//! per state type, `intrinsics/` one per intrinsic family; `path` (JSONPath and
//! reference paths), `template` (payload templates), `io` (InputPath → Parameters →
//! ResultSelector → ResultPath → OutputPath), `retry` (Retry and Catch), `context` (the
//! `$$` object), `transitions` (each state's ways out, labelled) and `validate`
//! (diagnostics) hold the shared pieces.

pub mod context;
pub mod definition;
pub mod error;
pub mod eval;
pub mod expr;
pub mod express;
pub mod flow;
pub mod fuzzing;
pub mod intrinsics;
pub mod io;
pub mod json;
pub mod jsonata;
pub mod path;
pub mod payload;
pub mod random;
pub mod retry;
pub mod states;
pub mod template;
pub mod timestamp;
pub mod transitions;
pub mod validate;
pub mod variables;

pub use definition::{Branch, State, StateKind, StateMachine, Transition};
pub use error::StatesError;
pub use eval::Env;
pub use validate::{Diagnostic, Severity, parse, validate};
