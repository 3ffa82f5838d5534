//! The environment an evaluation runs in: everything that is not the state's input but
//! that paths, templates and intrinsic functions may read. Passing it in (rather than
//! reading clocks or random sources) keeps the language pure and replayable.

use serde_json::Value;

use super::random::RandomSource;

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
}

impl<'a> Env<'a> {
    /// An environment with AWS's default payload limit.
    pub fn new(context: &'a Value, random: &'a mut dyn RandomSource) -> Self {
        Env {
            context,
            random,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}
