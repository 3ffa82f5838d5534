//! Succeed: ends the execution (or the branch, or the Map iteration) successfully, with
//! its input after InputPath and OutputPath as the output.

/// A Succeed state has no fields of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Succeed;

impl Succeed {
    /// The fields a Succeed state may have in JSONPath.
    pub const FIELDS: &[&str] = &["InputPath", "OutputPath"];
    /// The fields a Succeed state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &["Output"];
}
