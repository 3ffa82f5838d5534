//! Succeed: ends the execution (or the branch, or the Map iteration) successfully, with
//! its input after InputPath and OutputPath as the output.

/// A Succeed state has no fields of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Succeed;
