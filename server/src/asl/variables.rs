//! Workflow variables: what `Assign` stores and `$name` reads, in both query languages.
//!
//! The rules followed are AWS's ("Passing data between states with variables"):
//! - the top-level states share one scope; each Parallel branch and each Map iteration
//!   runs in a scope of its own, which can read the scopes around it; what a branch or
//!   iteration assigns stays in it (only its output flows out), and a name it assigns
//!   that an outer scope also has is its own from then on;
//! - every field of a state reads the values from before the state: `Assign` and
//!   `Output` see the same values, and new values are visible from the next state on;
//! - one variable holds at most 256 KiB, one `Assign` at most 256 KiB in all, and an
//!   execution at most 10 MiB of variables; past a limit the state fails with
//!   `States.DataLimitExceeded` (the error AWS raises for data past a quota);
//! - `states` is reserved (`$states` is the JSONata state object).

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::Value;

use super::error::StatesError;
use super::json::payload_size;

/// AWS: one variable holds at most 256 KiB.
pub const MAX_VARIABLE_BYTES: usize = 256 * 1024;
/// AWS: one `Assign` field sets at most 256 KiB in all.
pub const MAX_ASSIGN_BYTES: usize = 256 * 1024;
/// AWS: an execution's variables hold at most 10 MiB together.
pub const MAX_EXECUTION_VARIABLE_BYTES: usize = 10 * 1024 * 1024;
/// The longest variable name (AWS caps names at 80 characters).
pub const MAX_NAME_CHARS: usize = 80;

/// One scope's variables, by name.
pub type Scope = BTreeMap<String, Value>;

/// The variables a state can read: its own scope first, then the scopes around it.
#[derive(Clone, Default)]
pub struct Variables<'a> {
    scopes: Vec<&'a Scope>,
}

/// No variables at all, to borrow where none can be set.
pub static NO_VARIABLES: Variables<'static> = Variables { scopes: Vec::new() };

impl<'a> Variables<'a> {
    /// No variables at all.
    pub fn none() -> Variables<'static> {
        Variables::default()
    }

    /// A view of `scopes`, innermost first.
    pub fn of(scopes: Vec<&'a Scope>) -> Variables<'a> {
        Variables { scopes }
    }

    /// The value of `name` in the innermost scope that has it.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.scopes.iter().find_map(|scope| scope.get(name))
    }
}

/// Why a name cannot be a variable's.
pub fn name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("a variable name cannot be empty".into());
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Some(format!(
            "the variable name '{name}' is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name == "states" {
        return Some(
            "'states' is reserved ($states is the state's own data in JSONata); choose another name"
                .into(),
        );
    }
    if !(first.is_alphabetic() || first == '_') || !chars.all(|c| c.is_alphanumeric() || c == '_') {
        return Some(format!(
            "'{name}' is not a variable name: use a letter or '_' followed by letters, digits or '_'"
        ));
    }
    None
}

/// Checks what one `Assign` sets against AWS's per-variable and per-Assign limits, and
/// the execution's total once they are stored (`stored_bytes`: what the execution's
/// variables hold now, `replaced_bytes`: what the names being set hold now). Returns the
/// bytes the assignment adds.
pub fn check_assignment(
    assigned: &IndexMap<String, Value>,
    stored_bytes: usize,
    replaced_bytes: usize,
) -> Result<usize, StatesError> {
    let mut total = 0;
    for (name, value) in assigned {
        let size = payload_size(value);
        if size > MAX_VARIABLE_BYTES {
            return Err(StatesError::data_limit(format!(
                "the variable '{name}' would hold {size} bytes, more than the {MAX_VARIABLE_BYTES}-byte limit for one variable"
            )));
        }
        total += size;
    }
    if total > MAX_ASSIGN_BYTES {
        return Err(StatesError::data_limit(format!(
            "Assign sets {total} bytes of variables, more than the {MAX_ASSIGN_BYTES}-byte limit for one Assign"
        )));
    }
    let after = stored_bytes.saturating_sub(replaced_bytes) + total;
    if after > MAX_EXECUTION_VARIABLE_BYTES {
        return Err(StatesError::data_limit(format!(
            "the execution's variables would hold {after} bytes, more than the {MAX_EXECUTION_VARIABLE_BYTES}-byte limit"
        )));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inner_scopes_shadow_outer_ones() {
        let outer: Scope = [("a".to_string(), json!(1)), ("b".to_string(), json!(2))].into();
        let inner: Scope = [("a".to_string(), json!("inner"))].into();
        let view = Variables::of(vec![&inner, &outer]);
        assert_eq!(view.get("a"), Some(&json!("inner")));
        assert_eq!(view.get("b"), Some(&json!(2)));
        assert_eq!(view.get("c"), None);
        assert_eq!(Variables::none().get("a"), None);
    }

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(name_problem("count"), None);
        assert_eq!(name_problem("_x1"), None);
        assert_eq!(name_problem("名前"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem("1x").unwrap().contains("not a variable name"));
        assert!(name_problem("a-b").is_some());
        assert!(name_problem("states").unwrap().contains("reserved"));
        assert!(name_problem(&"x".repeat(81)).unwrap().contains("80"));
    }

    #[test]
    fn assignments_are_limited_as_aws_limits_them() {
        let big = json!("x".repeat(MAX_VARIABLE_BYTES));
        let one: IndexMap<String, Value> = [("a".to_string(), big.clone())].into_iter().collect();
        let err = check_assignment(&one, 0, 0).unwrap_err();
        assert_eq!(err.error, "States.DataLimitExceeded");
        assert!(err.cause.contains("'a'"), "{}", err.cause);
        let half = json!("x".repeat(MAX_VARIABLE_BYTES / 2));
        let two: IndexMap<String, Value> =
            [("a".to_string(), half.clone()), ("b".to_string(), half)]
                .into_iter()
                .collect();
        assert!(
            check_assignment(&two, 0, 0)
                .unwrap_err()
                .cause
                .contains("one Assign")
        );
        let small: IndexMap<String, Value> = [("a".to_string(), json!(1))].into_iter().collect();
        assert_eq!(check_assignment(&small, 0, 0).unwrap(), 1);
        let err = check_assignment(&small, MAX_EXECUTION_VARIABLE_BYTES, 0).unwrap_err();
        assert!(err.cause.contains("execution's variables"), "{}", err.cause);
        // Replacing a value frees what it held.
        assert!(check_assignment(&small, MAX_EXECUTION_VARIABLE_BYTES, 10).is_ok());
    }
}
