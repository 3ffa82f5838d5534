//! Whether a state reads the context object (`$$` in JSONPath, `$states.context` in
//! JSONata) and its execution input: the engine builds the context object only for the
//! states that do, found once when the definition is read.

use serde_json::Value;

/// Whether `value` holds a string mentioning `$$`: every read of the context object is
/// a path or intrinsic argument written in the state's own fields (Parallel and Map
/// states count their nested states too, which only errs towards building it).
pub(super) fn mentions_context(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("$$"),
        Value::Array(items) => items.iter().any(mentions_context),
        Value::Object(fields) => fields.values().any(mentions_context),
        _ => false,
    }
}

/// Whether `value` holds a `$$` path that may read `$$.Execution.Input`: any that does
/// not begin with one of the context object's other members (the whole object, a
/// descendant or a wildcard may).
pub(super) fn mentions_execution_input(value: &Value) -> bool {
    const ELSEWHERE: [&str; 9] = [
        ".Map.",
        ".State.",
        ".Task.",
        ".StateMachine.",
        ".Execution.Id",
        ".Execution.Name",
        ".Execution.RoleArn",
        ".Execution.StartTime",
        ".Execution.RedriveCount",
    ];
    match value {
        Value::String(text) => text.match_indices("$$").any(|(at, _)| {
            let rest = &text[at + 2..];
            !ELSEWHERE.iter().any(|prefix| rest.starts_with(prefix))
        }),
        Value::Array(items) => items.iter().any(mentions_execution_input),
        Value::Object(fields) => fields.values().any(mentions_execution_input),
        _ => false,
    }
}

/// Whether `value` holds a string that may read `$states.context`: it names it, or uses
/// `$states` whole.
pub(super) fn mentions_states_context(value: &Value) -> bool {
    match value {
        Value::String(text) => text.match_indices("$states").any(|(at, _)| {
            let rest = &text[at + "$states".len()..];
            match rest.strip_prefix('.') {
                Some(member) => member.starts_with("context"),
                None => true,
            }
        }),
        Value::Array(items) => items.iter().any(mentions_states_context),
        Value::Object(fields) => fields.values().any(mentions_states_context),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_reads_are_found_where_they_are_written() {
        assert!(mentions_context(
            &json!({"a": ["x", {"b.$": "$$.Task.Token"}]})
        ));
        assert!(!mentions_context(&json!({"a.$": "$.x"})));
        assert!(!mentions_execution_input(&json!("$$.Task.Token")));
        assert!(mentions_execution_input(&json!("$$.Execution.Input.x")));
        assert!(mentions_execution_input(&json!("$$")));
        assert!(mentions_states_context(&json!(
            "{% $states.context.Task.Token %}"
        )));
        assert!(mentions_states_context(&json!("{% $states %}")));
        assert!(!mentions_states_context(&json!("{% $states.input %}")));
    }
}
