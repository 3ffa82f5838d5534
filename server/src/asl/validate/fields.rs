//! Typed readers for a definition's fields: each reads one field, reports what is wrong
//! with it, and returns what it could read.

use serde_json::{Map, Value};

use super::{Code, MAX_SECONDS, Obj, Reader, Severity};
use crate::asl::definition::Setting;
use crate::asl::expr::ExprError;
use crate::asl::intrinsics;
use crate::asl::json::describe;
use crate::asl::path::{Path, ReferencePath};
use crate::asl::template::{Template, TemplateProblem, pointer_escape};

impl Reader {
    pub(crate) fn string<'a>(&mut self, obj: Obj<'a>, key: &str) -> Option<&'a str> {
        match obj.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be a string, not {}", describe(other)),
                );
                None
            }
        }
    }

    pub(crate) fn required_string<'a>(
        &mut self,
        obj: Obj<'a>,
        key: &str,
        what: &str,
    ) -> Option<&'a str> {
        if !obj.has(key) {
            self.schema(
                obj.at.to_string(),
                format!("the required field '{key}' of {what} is missing"),
            );
            return None;
        }
        self.string(obj, key)
    }

    /// A required, non-empty array field of `owner`, holding `items`.
    pub(crate) fn required_list<'a>(
        &mut self,
        obj: Obj<'a>,
        key: &str,
        owner: &str,
        items: &str,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(key) {
            None => {
                self.schema(
                    obj.at.to_string(),
                    format!("{owner} needs '{key}', a non-empty array of {items}"),
                );
                None
            }
            Some(Value::Array(list)) if !list.is_empty() => Some(list),
            Some(other) => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a non-empty array of {items}, not {}",
                        short(other)
                    ),
                );
                None
            }
        }
    }

    /// The elements of a list that are objects, with their locations; reports the others.
    pub(crate) fn list_objects<'a>(
        &mut self,
        list: &'a [Value],
        at: &str,
        item: &str,
    ) -> Vec<(String, &'a Map<String, Value>)> {
        let mut objects = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            let here = format!("{at}/{i}");
            match value {
                Value::Object(map) => objects.push((here, map)),
                other => self.schema(
                    here,
                    format!("{item} must be an object, not {}", describe(other)),
                ),
            }
        }
        objects
    }

    pub(crate) fn array<'a>(&mut self, obj: Obj<'a>, key: &str) -> Option<&'a Vec<Value>> {
        match obj.get(key)? {
            Value::Array(items) => Some(items),
            other => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be an array, not {}", describe(other)),
                );
                None
            }
        }
    }

    pub(crate) fn uint(&mut self, obj: Obj, key: &str, min: u64, max: u64) -> Option<u64> {
        let value = obj.get(key)?;
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.schema(
                    obj.loc(key),
                    format!("'{key}' must be an integer from {min} to {max}, not {value}"),
                );
                None
            }
        }
    }

    pub(crate) fn positive_seconds(&mut self, obj: Obj, key: &str) -> Option<u64> {
        self.uint(obj, key, 1, MAX_SECONDS)
    }

    /// A setting given as `fixed` (an integer in `min..=max`) or read through `path`.
    pub(crate) fn uint_setting(
        &mut self,
        obj: Obj,
        fixed: &str,
        path: &str,
        min: u64,
        max: u64,
    ) -> Option<Setting<u64>> {
        self.setting(obj, fixed, path, |reader, obj| {
            reader.uint(obj, fixed, min, max)
        })
    }

    pub(crate) fn percentage_setting(&mut self, obj: Obj) -> Option<Setting<f64>> {
        let (fixed, path) = (
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
        );
        self.setting(obj, fixed, path, |reader, obj| {
            let value = obj.get(fixed)?;
            match value.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(p),
                _ => {
                    reader.schema(
                        obj.loc(fixed),
                        format!("'{fixed}' must be a number from 0 to 100, not {value}"),
                    );
                    None
                }
            }
        })
    }

    /// Whether both `fixed` and its `path` form are given (reported: keep one).
    pub(crate) fn both_given(&mut self, obj: Obj, fixed: &str, path: &str) -> bool {
        let both = obj.has(fixed) && obj.has(path);
        if both {
            self.schema(
                obj.loc(path),
                format!("use either '{fixed}' or '{path}', not both"),
            );
        }
        both
    }

    /// Exactly one of `fixed` (read by `read_fixed`) or `path` (a reference path), or neither.
    pub(crate) fn setting<T>(
        &mut self,
        obj: Obj,
        fixed: &str,
        path: &str,
        read_fixed: impl FnOnce(&mut Self, Obj) -> Option<T>,
    ) -> Option<Setting<T>> {
        if self.both_given(obj, fixed, path) {
            return None;
        }
        if obj.has(fixed) {
            if let Some(expression) = self.field_expression(obj, fixed) {
                return expression.map(Setting::Expression);
            }
            return read_fixed(self, obj).map(Setting::Fixed);
        }
        obj.has(path)
            .then(|| self.reference_path(obj, path).map(Setting::Path))
            .flatten()
    }

    /// A path field that may be `null`: None if absent or invalid, Some(None) for null.
    pub(crate) fn nullable_path(&mut self, obj: Obj, key: &str) -> Option<Option<Path>> {
        match obj.get(key)? {
            Value::Null => Some(None),
            Value::String(text) => match Path::parse(text) {
                Ok(path) => Some(Some(path)),
                Err(e) => {
                    self.error(Code::InvalidPath, obj.loc(key), e.to_string());
                    None
                }
            },
            other => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a path string or null, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn nullable_reference_path(
        &mut self,
        obj: Obj,
        key: &str,
    ) -> Option<Option<ReferencePath>> {
        match obj.get(key)? {
            Value::Null => Some(None),
            Value::String(_) => self.reference_path(obj, key).map(Some),
            other => {
                self.schema(
                    obj.loc(key),
                    format!(
                        "'{key}' must be a reference path string or null, not {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn reference_path(&mut self, obj: Obj, key: &str) -> Option<ReferencePath> {
        let text = self.string(obj, key)?;
        match ReferencePath::parse(text) {
            Ok(path) if key == "ResultPath" && path.root() != &crate::asl::path::Root::Input => {
                self.error(
                    Code::InvalidPath,
                    obj.loc(key),
                    format!(
                        "'{key}' can only write into the state's data, not into {} ('{text}')",
                        crate::asl::path::Sources::describe(path.root())
                    ),
                );
                None
            }
            Ok(path) => Some(path),
            Err(e) => {
                self.error(Code::InvalidPath, obj.loc(key), e.to_string());
                None
            }
        }
    }

    pub(crate) fn template(&mut self, obj: Obj, key: &str) -> Option<Template> {
        let value = obj.get(key)?;
        self.warn_missing_dollar(value, &obj.loc(key));
        match Template::parse(value) {
            Ok(template) => Some(template),
            Err(errors) => {
                for e in errors {
                    let code = match &e.problem {
                        TemplateProblem::Expr(expr) => expr_code(expr),
                        TemplateProblem::Shape(_) => Code::SchemaValidationFailed,
                    };
                    self.error(
                        code,
                        format!("{}{}", obj.loc(key), e.pointer),
                        e.problem.to_string(),
                    );
                }
                None
            }
        }
    }

    /// NO_DOLLAR: a static string that looks like a path or an intrinsic call, in a field
    /// whose name lacks `.$` — almost always a forgotten suffix.
    pub(crate) fn warn_missing_dollar(&mut self, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let here = format!("{at}/{}", pointer_escape(key));
                    if key.ends_with(".$") {
                        continue;
                    }
                    if let Value::String(s) = v
                        && (s.starts_with("$.")
                            || s.starts_with("$$.")
                            || (intrinsics::looks_like_call(s) && s.ends_with(')')))
                    {
                        self.report(
                            Severity::Warning,
                            Code::NoDollar,
                            here,
                            format!("'{s}' looks like a path or intrinsic function, but '{key}' does not end in '.$', so it is passed as plain text; name the field '{key}.$' to evaluate it"),
                        );
                        continue;
                    }
                    self.warn_missing_dollar(v, &here);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.warn_missing_dollar(item, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
}

/// A short description of a value for messages: its type, or "an empty array".
pub(crate) fn short(value: &Value) -> String {
    match value {
        Value::Array(items) if items.is_empty() => "an empty array".into(),
        other => describe(other).into(),
    }
}

/// The diagnostic code for a bad path or intrinsic call.
pub(crate) fn expr_code(error: &ExprError) -> Code {
    match error {
        ExprError::Path(_) | ExprError::Neither(_) => Code::InvalidPath,
        ExprError::Intrinsic(_) => Code::InvalidIntrinsic,
    }
}
