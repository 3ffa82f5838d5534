//! The environment an evaluation runs in: everything that is not the state's input but
//! that paths, templates and intrinsic functions may read. Passing it in (rather than
//! reading clocks or random sources) keeps the language pure and replayable.

use std::sync::LazyLock;

use serde_json::Value;

use super::jsonata::Limits;
use super::path::Sources;
use super::random::RandomSource;
use super::variables::Variables;

/// AWS's default payload quota: 256 KiB for a state's input or output.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// What evaluation may read besides the state input.
pub struct Env<'a> {
    /// The context object that `$$` paths read.
    pub context: &'a Value,
    /// Where `States.MathRandom`, `States.UUID` and retry jitter draw from.
    pub random: &'a mut dyn RandomSource,
    /// The largest input or output a state may have, in bytes of JSON text.
    pub max_payload_bytes: usize,
    /// The workflow variables the state can read.
    pub variables: Variables<'a>,
    /// The engine's time, in Unix epoch milliseconds: what JSONata's `$now` and
    /// `$millis` return.
    pub now_ms: i64,
    /// How far a JSONata evaluation may go.
    pub jsonata: &'a Limits,
}

/// The limits of an evaluation outside the runtime (no time watch).
static DEFAULT_LIMITS: LazyLock<Limits> = LazyLock::new(Limits::default);

impl<'a> Env<'a> {
    /// What paths read besides the state's data.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            context: self.context,
            variables: &self.variables,
        }
    }

    /// An environment with AWS's default payload limit.
    pub fn new(context: &'a Value, random: &'a mut dyn RandomSource) -> Self {
        Env {
            context,
            random,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            variables: Variables::default(),
            now_ms: 0,
            jsonata: &DEFAULT_LIMITS,
        }
    }
}
