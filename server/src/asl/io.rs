//! Input and output processing, in AWS's order:
//! InputPath → Parameters → (the state's work) → ResultSelector → ResultPath → OutputPath.
//!
//! AWS's null rules: an InputPath or OutputPath of `null` gives `{}`; a ResultPath of
//! `null` discards the result and passes the state's input through; a ResultPath of `$`
//! replaces the input with the result. ResultPath always combines the result with the
//! state's *original* input, not the one InputPath/Parameters produced.

use serde_json::{Map, Value};

use super::error::StatesError;
use super::eval::Env;
use super::expr::not_found;
use super::json::{MAX_NESTING, measure};
use super::path::{Path, ReferencePath};
use super::template::Template;

/// The data-flow fields of a state. Which ones a state type may set is checked when the
/// definition is read; the ones it may not set keep their defaults here.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFlow {
    /// `InputPath`; `None` is an explicit `null`. Defaults to `$`.
    pub input_path: Option<Path>,
    /// `Parameters` (for Map the older name of ItemSelector, which Map keeps itself).
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `ResultPath`; `None` is an explicit `null` (discard the result). Defaults to `$`.
    pub result_path: Option<ReferencePath>,
    /// `OutputPath`; `None` is an explicit `null`. Defaults to `$`.
    pub output_path: Option<Path>,
}

impl Default for DataFlow {
    fn default() -> Self {
        let root = Path::parse("$").expect("'$' is a valid path");
        DataFlow {
            input_path: Some(root.clone()),
            parameters: None,
            result_selector: None,
            result_path: Some(ReferencePath::root_path()),
            output_path: Some(root),
        }
    }
}

impl DataFlow {
    /// InputPath alone: the data that path-valued settings (SecondsPath,
    /// TimeoutSecondsPath, ItemsPath, MaxConcurrencyPath, ...) read.
    pub fn selected_input(&self, state_input: &Value, env: &Env) -> Result<Value, StatesError> {
        select_or_empty(self.input_path.as_ref(), state_input, env, "InputPath")
    }

    /// InputPath then Parameters: the input the state's work sees.
    pub fn effective_input(
        &self,
        state_input: &Value,
        env: &mut Env,
    ) -> Result<Value, StatesError> {
        let selected = self.selected_input(state_input, env)?;
        self.apply_parameters(selected, env)
    }

    /// Parameters applied to what InputPath selected.
    pub fn apply_parameters(&self, selected: Value, env: &mut Env) -> Result<Value, StatesError> {
        let effective = match &self.parameters {
            Some(template) => template.evaluate(&selected, env)?,
            None => selected,
        };
        check_payload(
            &effective,
            env,
            "the state's input after InputPath and Parameters",
        )?;
        Ok(effective)
    }

    /// ResultSelector, ResultPath and OutputPath: the state's output given its result.
    pub fn output(
        &self,
        state_input: &Value,
        result: Value,
        env: &mut Env,
    ) -> Result<Value, StatesError> {
        let selected = self.select_result(result, env)?;
        self.place_result(state_input, selected, env)
    }

    /// ResultSelector on the result: what `Assign` reads as `$` (AWS evaluates Assign
    /// after ResultSelector and before ResultPath).
    pub fn select_result(&self, result: Value, env: &mut Env) -> Result<Value, StatesError> {
        check_payload(&result, env, "the state's result")?;
        match &self.result_selector {
            Some(template) => template.evaluate(&result, env),
            None => Ok(result),
        }
    }

    /// ResultPath and OutputPath: the state's output given its selected result.
    pub fn place_result(
        &self,
        state_input: &Value,
        selected: Value,
        env: &mut Env,
    ) -> Result<Value, StatesError> {
        let combined = apply_result_path(self.result_path.as_ref(), state_input, selected)?;
        let output = select_or_empty(self.output_path.as_ref(), &combined, env, "OutputPath")?;
        check_payload(&output, env, "the state's output")?;
        Ok(output)
    }
}

/// Places `result` into `state_input` at ResultPath (`None`: discard the result).
pub fn apply_result_path(
    result_path: Option<&ReferencePath>,
    state_input: &Value,
    result: Value,
) -> Result<Value, StatesError> {
    match result_path {
        None => Ok(state_input.clone()),
        Some(path) if path.segments().is_empty() => Ok(result),
        Some(path) => path.set(state_input.clone(), result).map_err(|reason| {
            StatesError::result_path(format!(
                "Unable to apply ResultPath '{}' to the state's input: {reason}",
                path.text()
            ))
        }),
    }
}

/// Applies an InputPath/OutputPath (`None` → `{}`); a definite path that selects nothing
/// is a `States.Runtime` error naming the field.
fn select_or_empty(
    path: Option<&Path>,
    value: &Value,
    env: &Env,
    field: &str,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(path) => path
            .select(value, env.sources())
            .ok_or_else(|| not_found(path, field, value)),
    }
}

/// Fails with `States.DataLimitExceeded` when `value` is larger than the payload limit
/// or nests deeper than [`MAX_NESTING`] levels.
pub fn check_payload(value: &Value, env: &Env, what: &str) -> Result<(), StatesError> {
    let measured = measure(value);
    if measured.bytes > env.max_payload_bytes {
        return Err(StatesError::data_limit(format!(
            "{what} is {} bytes, more than the {}-byte limit",
            measured.bytes, env.max_payload_bytes
        )));
    }
    if measured.depth > MAX_NESTING {
        return Err(StatesError::data_limit(format!(
            "{what} nests {} levels deep, more than the {MAX_NESTING}-level limit",
            measured.depth
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    fn flow(
        input_path: Option<&str>,
        parameters: Option<Value>,
        selector: Option<Value>,
        result_path: Option<&str>,
        output_path: Option<&str>,
    ) -> DataFlow {
        DataFlow {
            input_path: input_path.map(|p| Path::parse(p).unwrap()),
            parameters: parameters.map(|t| Template::parse(&t).unwrap()),
            result_selector: selector.map(|t| Template::parse(&t).unwrap()),
            result_path: result_path.map(|p| ReferencePath::parse(p).unwrap()),
            output_path: output_path.map(|p| Path::parse(p).unwrap()),
        }
    }

    fn with_env<T>(f: impl FnOnce(&mut Env) -> T) -> T {
        let context = json!({});
        let mut random = SeededRandom::new(3);
        let mut env = Env::new(&context, &mut random);
        f(&mut env)
    }

    // AWS "InputPath, Parameters and ResultSelector" and "ResultPath" examples.
    #[test]
    fn aws_input_path_example() {
        let input = json!({"comment": "Example for InputPath.", "dataset1": {"val1": 1, "val2": 2, "val3": 3}, "dataset2": {"val1": "a", "val2": "b", "val3": "c"}});
        let f = flow(Some("$.dataset2"), None, None, Some("$"), Some("$"));
        assert_eq!(
            with_env(|env| f.effective_input(&input, env)).unwrap(),
            json!({"val1": "a", "val2": "b", "val3": "c"})
        );
    }

    #[test]
    fn aws_result_selector_example() {
        // A Task result with metadata; ResultSelector keeps what matters and ResultPath
        // puts it beside the original input.
        let result = json!({
            "resourceType": "elasticmapreduce",
            "resource": "createCluster.sync",
            "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"}
        });
        let f = flow(
            Some("$"),
            None,
            Some(json!({"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"})),
            Some("$.EMROutput"),
            Some("$"),
        );
        let out = with_env(|env| f.output(&json!({"before": 1}), result, env)).unwrap();
        assert_eq!(
            out,
            json!({"before": 1, "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}})
        );
    }

    #[test]
    fn aws_result_path_examples() {
        let input = json!({"comment": "This is a test of the input and output of a Task state.", "details": "Default example", "who": "AWS Step Functions"});
        let result = json!("Hello, AWS Step Functions!");
        // ResultPath "$" replaces the input.
        let f = flow(Some("$"), None, None, Some("$"), Some("$"));
        assert_eq!(
            with_env(|env| f.output(&input, result.clone(), env)).unwrap(),
            result
        );
        // ResultPath null discards the result.
        let f = flow(Some("$"), None, None, None, Some("$"));
        assert_eq!(
            with_env(|env| f.output(&input, result.clone(), env)).unwrap(),
            input
        );
        // ResultPath "$.taskresult" adds it to the input.
        let f = flow(Some("$"), None, None, Some("$.taskresult"), Some("$"));
        let mut expected = input.clone();
        expected["taskresult"] = result.clone();
        assert_eq!(
            with_env(|env| f.output(&input, result.clone(), env)).unwrap(),
            expected
        );
        // ResultPath into an existing node overwrites it.
        let f = flow(Some("$"), None, None, Some("$.details"), Some("$"));
        let mut expected = input.clone();
        expected["details"] = result.clone();
        assert_eq!(
            with_env(|env| f.output(&input, result, env)).unwrap(),
            expected
        );
    }

    #[test]
    fn result_path_uses_the_original_input_not_the_effective_one() {
        let input = json!({"a": {"x": 1}, "b": 2});
        let f = flow(
            Some("$.a"),
            Some(json!({"y.$": "$.x"})),
            None,
            Some("$.r"),
            Some("$"),
        );
        let effective = with_env(|env| f.effective_input(&input, env)).unwrap();
        assert_eq!(effective, json!({"y": 1}));
        let out = with_env(|env| f.output(&input, json!("done"), env)).unwrap();
        assert_eq!(out, json!({"a": {"x": 1}, "b": 2, "r": "done"}));
    }

    #[test]
    fn null_input_and_output_paths_give_empty_objects() {
        let f = flow(None, None, None, Some("$"), None);
        assert_eq!(
            with_env(|env| f.effective_input(&json!({"a": 1}), env)).unwrap(),
            json!({})
        );
        assert_eq!(
            with_env(|env| f.output(&json!({"a": 1}), json!(5), env)).unwrap(),
            json!({})
        );
    }

    #[test]
    fn output_path_selects_from_the_combined_value() {
        let f = flow(Some("$"), None, None, Some("$.r"), Some("$.r.v"));
        assert_eq!(
            with_env(|env| f.output(&json!({}), json!({"v": 7}), env)).unwrap(),
            json!(7)
        );
    }

    #[test]
    fn failures_name_the_field_and_error() {
        let f = flow(Some("$.missing"), None, None, Some("$"), Some("$"));
        let err = with_env(|env| f.effective_input(&json!({}), env)).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("InputPath") && err.cause.contains("$.missing"));
        let f = flow(Some("$"), None, None, Some("$.a.b"), Some("$"));
        let err = with_env(|env| f.output(&json!({"a": 3}), json!(1), env)).unwrap_err();
        assert_eq!(err.error, "States.ResultPathMatchFailure");
        assert!(err.cause.contains("'$.a.b'"), "{}", err.cause);
    }

    #[test]
    fn oversized_payloads_fail_with_data_limit_exceeded() {
        let context = json!({});
        let mut random = SeededRandom::new(3);
        let mut env = Env::new(&context, &mut random);
        env.max_payload_bytes = 20;
        let f = DataFlow::default();
        let big = json!({"text": "x".repeat(30)});
        let err = f.effective_input(&big, &mut env).unwrap_err();
        assert_eq!(err.error, "States.DataLimitExceeded");
        assert!(err.cause.contains("20-byte limit"));
        let err = f.output(&json!({}), big, &mut env).unwrap_err();
        assert_eq!(err.error, "States.DataLimitExceeded");
        assert!(f.output(&json!({}), json!("small"), &mut env).is_ok());
    }

    #[test]
    fn payloads_nested_past_the_limit_fail_with_data_limit_exceeded() {
        let deep = |levels: usize| (0..levels).fold(json!(1), |inner, _| json!([inner]));
        // A Parameters template wrapping the input one level deeper, as a state might.
        let f = flow(
            Some("$"),
            Some(json!({"wrapped.$": "$"})),
            None,
            Some("$"),
            Some("$"),
        );
        let at_limit = with_env(|env| f.effective_input(&deep(MAX_NESTING - 1), env)).unwrap();
        assert_eq!(crate::asl::json::measure(&at_limit).depth, MAX_NESTING);
        let err = with_env(|env| f.effective_input(&deep(MAX_NESTING), env)).unwrap_err();
        assert_eq!(err.error, "States.DataLimitExceeded");
        assert!(
            err.cause
                .contains("nests 101 levels deep, more than the 100-level limit"),
            "{}",
            err.cause
        );
        let err = with_env(|env| f.output(&json!({}), deep(MAX_NESTING + 1), env)).unwrap_err();
        assert_eq!(err.error, "States.DataLimitExceeded");
    }
}
