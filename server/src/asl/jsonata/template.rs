//! A JSONata field's value: any JSON, where a string `"{% ... %}"` at any depth is an
//! expression and everything else is itself (`Arguments`, `Output`, `Assign`, a Map's
//! `ItemSelector`, and settings such as `"TimeoutSeconds": "{% $t %}"`).

use serde_json::{Map, Value};

use super::{Converted, Expression, States, SyntaxError, expression_text};
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::template::pointer_escape;

/// A JSON value with expressions in it.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonataValue {
    /// No expression anywhere inside: the value as written.
    Literal(Value),
    /// `"{% ... %}"`.
    Expression(Expression),
    /// An array with an expression somewhere inside.
    Array(Vec<JsonataValue>),
    /// An object with an expression somewhere inside.
    Object(Vec<(String, JsonataValue)>),
}

/// A syntax error at a JSON Pointer inside the field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Where, relative to the field (`""` for the field itself, `/a/0` inside it).
    pub pointer: String,
    /// What.
    pub error: SyntaxError,
    /// The expression as written.
    pub expression: String,
}

impl JsonataValue {
    /// Reads a field's value; every expression that does not parse is reported.
    pub fn parse(value: &Value) -> Result<JsonataValue, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let parsed = read(value, "", &mut errors);
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }

    /// Whether it is one expression (rather than JSON holding some).
    pub fn as_expression(&self) -> Option<&Expression> {
        match self {
            JsonataValue::Expression(e) => Some(e),
            _ => None,
        }
    }

    /// Every expression in it.
    pub fn expressions(&self) -> Vec<&Expression> {
        let mut out = Vec::new();
        collect(self, &mut out);
        out
    }

    /// The value with each expression replaced by what it evaluates to; `field` is the
    /// field's name for error causes (`Output`, `Catch[0]/Output`), extended with `/key`
    /// and `[index]` inside it, as AWS names them.
    pub fn evaluate(
        &self,
        states: &States,
        env: &mut Env,
        field: &str,
    ) -> Result<Value, StatesError> {
        let converted = Converted::default();
        self.evaluate_at(states, &converted, env, &FieldPath::Root(field))
    }

    fn evaluate_at(
        &self,
        states: &States,
        converted: &Converted,
        env: &mut Env,
        field: &FieldPath,
    ) -> Result<Value, StatesError> {
        match self {
            JsonataValue::Literal(value) => Ok(value.clone()),
            JsonataValue::Expression(expression) => {
                expression.evaluate_converted(states, converted, env, field)
            }
            JsonataValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.evaluate_at(states, converted, env, &FieldPath::Index(field, i))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            JsonataValue::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, item) in fields {
                    let value =
                        item.evaluate_at(states, converted, env, &FieldPath::Key(field, key))?;
                    out.insert(key.clone(), value);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

/// Where an expression is inside a field, written out only for an error's cause (a
/// string built for every evaluation was a measurable part of a JSONata state's cost).
enum FieldPath<'a> {
    Root(&'a str),
    Key(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldPath::Root(field) => f.write_str(field),
            FieldPath::Key(parent, key) => write!(f, "{parent}/{key}"),
            FieldPath::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn read(value: &Value, pointer: &str, errors: &mut Vec<TemplateError>) -> JsonataValue {
    match value {
        Value::String(text) => match expression_text(text) {
            Some(source) => match Expression::parse(source) {
                Ok(expression) => JsonataValue::Expression(expression),
                Err(error) => {
                    errors.push(TemplateError {
                        pointer: pointer.to_string(),
                        error,
                        expression: source.trim().to_string(),
                    });
                    JsonataValue::Literal(Value::Null)
                }
            },
            None => JsonataValue::Literal(value.clone()),
        },
        Value::Array(items) => {
            let parsed: Vec<JsonataValue> = items
                .iter()
                .enumerate()
                .map(|(i, item)| read(item, &format!("{pointer}/{i}"), errors))
                .collect();
            if parsed.iter().all(|p| matches!(p, JsonataValue::Literal(_))) {
                JsonataValue::Literal(value.clone())
            } else {
                JsonataValue::Array(parsed)
            }
        }
        Value::Object(fields) => {
            let parsed: Vec<(String, JsonataValue)> = fields
                .iter()
                .map(|(key, item)| {
                    let at = format!("{pointer}/{}", pointer_escape(key));
                    (key.clone(), read(item, &at, errors))
                })
                .collect();
            if parsed
                .iter()
                .all(|(_, p)| matches!(p, JsonataValue::Literal(_)))
            {
                JsonataValue::Literal(value.clone())
            } else {
                JsonataValue::Object(parsed)
            }
        }
        other => JsonataValue::Literal(other.clone()),
    }
}

fn collect<'a>(value: &'a JsonataValue, out: &mut Vec<&'a Expression>) {
    match value {
        JsonataValue::Literal(_) => {}
        JsonataValue::Expression(e) => out.push(e),
        JsonataValue::Array(items) => items.iter().for_each(|i| collect(i, out)),
        JsonataValue::Object(fields) => fields.iter().for_each(|(_, i)| collect(i, out)),
    }
}
