//! Parallel: runs every branch on the same input, concurrently; its result is the array
//! of the branches' outputs, in branch order. If one branch fails, the state fails
//! (`States.BranchFailed` semantics: the branch's own error propagates) and the others
//! are stopped.

use crate::asl::definition::Branch;
use crate::asl::retry::ErrorHandling;

/// A Parallel state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// `Branches`.
    pub branches: Vec<Branch>,
    /// `Retry` and `Catch`.
    pub errors: ErrorHandling,
}
