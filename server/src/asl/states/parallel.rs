//! Parallel: runs every branch on the same input, concurrently; its result is the array
//! of the branches' outputs, in branch order. If one branch fails, the state fails
//! (`States.BranchFailed` semantics: the branch's own error propagates) and the others
//! are stopped.

use crate::asl::definition::Branch;
use crate::asl::retry::ErrorHandling;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use crate::asl::validate::StateLinks;

/// A Parallel state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Parallel {
    /// `Branches`.
    pub branches: Vec<Branch>,
    /// `Retry` and `Catch`.
    pub errors: ErrorHandling,
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn parallel(&mut self, obj: Obj, links: &mut StateLinks) -> Option<Parallel> {
        let errors = self.error_handling(obj, links);
        let branches = self.required_list(obj, "Branches", "a Parallel state", "branches")?;
        let mut parsed = Vec::with_capacity(branches.len());
        for (branch_at, map) in self.list_objects(branches, &obj.loc("Branches"), "a branch") {
            let branch_obj = Obj {
                map,
                at: &branch_at,
            };
            self.check_fields(branch_obj, &["StartAt", "States"], "a Parallel branch");
            if let Some(b) = self.branch(branch_obj) {
                parsed.push(b);
            }
        }
        (parsed.len() == branches.len()).then_some(Parallel {
            branches: parsed,
            errors,
        })
    }
}

impl Parallel {
    /// The fields a Parallel state may have in JSONPath.
    pub const FIELDS: &[&str] = &[
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "Branches",
        "Retry",
        "Catch",
        "Assign",
        "Next",
        "End",
    ];
    /// The fields a Parallel state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] = &[
        "Arguments",
        "Branches",
        "Output",
        "Assign",
        "Retry",
        "Catch",
        "Next",
        "End",
    ];
}
