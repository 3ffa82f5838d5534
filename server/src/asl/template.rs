//! Payload templates (Parameters, ResultSelector, ItemSelector): JSON in which a field
//! whose name ends in `.$` takes its value from a path or an intrinsic function, at any
//! depth, inside objects and arrays. Everything else is kept as written.

use serde_json::{Map, Value};

use super::error::StatesError;
use super::eval::Env;
use super::expr::{Expr, ExprError};

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value with nothing dynamic inside it.
    Static(Value),
    /// An object with at least one dynamic field somewhere below it.
    Object(Vec<(String, Template)>),
    /// An array with at least one dynamic field somewhere below it.
    Array(Vec<Template>),
    /// The value of a `"key.$"` field (the key is stored without `.$`).
    Dynamic {
        /// The field name as written, with `.$`, for error messages.
        field: String,
        /// What to evaluate.
        expr: Expr,
    },
}

/// A problem in a template, with its JSON Pointer relative to the template's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Where, e.g. `/nested/key.$`.
    pub pointer: String,
    /// What is wrong.
    pub problem: TemplateProblem,
}

/// What is wrong with a template field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    /// A `.$` value that is not a valid path or intrinsic call.
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// A `.$` value that is not a string, or a field given both with and without `.$`.
    #[error("{0}")]
    Shape(String),
}

impl Template {
    /// Compiles a template, collecting every problem in it.
    pub fn parse(value: &Value) -> Result<Template, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let template = compile(value, "", &mut errors);
        if errors.is_empty() {
            Ok(template)
        } else {
            Err(errors)
        }
    }

    /// Builds the payload from `input` (and the context object in `env`).
    pub fn evaluate(&self, input: &Value, env: &mut Env) -> Result<Value, StatesError> {
        match self {
            Template::Static(value) => Ok(value.clone()),
            Template::Dynamic { field, expr } => expr.evaluate(input, env, field),
            Template::Array(items) => items
                .iter()
                .map(|item| item.evaluate(input, env))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (key, field) in fields {
                    map.insert(key.clone(), field.evaluate(input, env)?);
                }
                Ok(Value::Object(map))
            }
        }
    }
}

/// Escapes a key for use in a JSON Pointer (RFC 6901).
pub fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn compile(value: &Value, pointer: &str, errors: &mut Vec<TemplateError>) -> Template {
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            let mut dynamic = false;
            for (key, field_value) in map {
                let here = format!("{pointer}/{}", pointer_escape(key));
                if let Some(name) = key.strip_suffix(".$") {
                    dynamic = true;
                    let compiled = match field_value {
                        Value::String(text) => match Expr::parse(text) {
                            Ok(expr) => Template::Dynamic {
                                field: key.clone(),
                                expr,
                            },
                            Err(e) => {
                                errors.push(TemplateError {
                                    pointer: here,
                                    problem: e.into(),
                                });
                                Template::Static(Value::Null)
                            }
                        },
                        _ => {
                            errors.push(TemplateError {
                                pointer: here,
                                problem: TemplateProblem::Shape(format!(
                                    "the field '{key}' ends in '.$', so its value must be a string holding a path or an intrinsic function"
                                )),
                            });
                            Template::Static(Value::Null)
                        }
                    };
                    if map.contains_key(name) {
                        errors.push(TemplateError {
                            pointer: format!("{pointer}/{}", pointer_escape(key)),
                            problem: TemplateProblem::Shape(format!(
                                "both '{name}' and '{key}' are present; keep one"
                            )),
                        });
                    }
                    fields.push((name.to_string(), compiled));
                } else {
                    let compiled = compile(field_value, &here, errors);
                    dynamic |= !matches!(compiled, Template::Static(_));
                    fields.push((key.clone(), compiled));
                }
            }
            if dynamic {
                Template::Object(fields)
            } else {
                Template::Static(value.clone())
            }
        }
        Value::Array(items) => {
            let compiled: Vec<Template> = items
                .iter()
                .enumerate()
                .map(|(i, item)| compile(item, &format!("{pointer}/{i}"), errors))
                .collect();
            if compiled.iter().all(|t| matches!(t, Template::Static(_))) {
                Template::Static(value.clone())
            } else {
                Template::Array(compiled)
            }
        }
        other => Template::Static(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    fn run(template: Value, input: Value) -> Result<Value, StatesError> {
        let context = json!({"Execution": {"Id": "arn:exec"}, "Map": {"Item": {"Index": 2}}});
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        Template::parse(&template)
            .unwrap()
            .evaluate(&input, &mut env)
    }

    // The payload template example from the Amazon States Language specification.
    #[test]
    fn spec_payload_template_example() {
        let template = json!({
            "flagged": true,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.DayOfWeek",
            "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)"
        });
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        let context = json!({"DayOfWeek": "TUESDAY"});
        let mut random = SeededRandom::new(1);
        let mut env = Env::new(&context, &mut random);
        let out = Template::parse(&template)
            .unwrap()
            .evaluate(&input, &mut env)
            .unwrap();
        assert_eq!(
            out,
            json!({
                "flagged": true,
                "parts": {"first": 0, "last3": [30, 40, 50]},
                "weekday": "TUESDAY",
                "formattedOutput": "Today is TUESDAY"
            })
        );
    }

    #[test]
    fn dynamic_fields_inside_arrays_and_context_paths() {
        let out = run(
            json!({"list": [{"id.$": "$.id"}, "plain"], "exec.$": "$$.Execution.Id", "idx.$": "$$.Map.Item.Index"}),
            json!({"id": 9}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"list": [{"id": 9}, "plain"], "exec": "arn:exec", "idx": 2})
        );
    }

    #[test]
    fn static_templates_are_kept_as_written() {
        let template = json!({"a": [1, {"b": "$.not-a-path-without-dollar-suffix"}]});
        assert_eq!(
            Template::parse(&template).unwrap(),
            Template::Static(template.clone())
        );
        assert_eq!(run(template.clone(), json!({})).unwrap(), template);
    }

    #[test]
    fn missing_path_fails_naming_the_field() {
        let err = run(json!({"x.$": "$.nope"}), json!({"a": 1})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(
            err.cause.contains("'$.nope'") && err.cause.contains("'x.$'"),
            "{}",
            err.cause
        );
    }

    #[test]
    fn parse_errors_point_at_the_field() {
        let errors = Template::parse(
            &json!({"ok": {"bad.$": 5, "worse.$": "nope"}, "arr": [{"x.$": "States.Nope()"}]}),
        )
        .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/ok/bad.$", "/ok/worse.$", "/arr/0/x.$"]);
        assert!(errors[0].problem.to_string().contains("must be a string"));
        assert!(matches!(
            errors[1].problem,
            TemplateProblem::Expr(ExprError::Neither(_))
        ));
        assert!(
            errors[2]
                .problem
                .to_string()
                .contains("not an intrinsic function")
        );
    }

    #[test]
    fn pointer_escaping_follows_rfc_6901() {
        assert_eq!(pointer_escape("a/b~c"), "a~1b~0c");
    }
}
