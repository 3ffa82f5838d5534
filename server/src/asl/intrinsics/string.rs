//! String intrinsics: Format and StringSplit.

use serde_json::Value;

use super::expect_string;
use crate::asl::error::StatesError;

/// A Format template split into text and placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    /// Text before each placeholder, then the text after the last one.
    pieces: Vec<String>,
}

impl Template {
    /// A template written in the call: `\{` and `\}` are literal braces, `{}` a placeholder.
    pub(crate) fn from_literal(raw: &str) -> Template {
        let mut pieces = vec![String::new()];
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        pieces.last_mut().expect("never empty").push(next);
                    }
                }
                '{' if chars.peek() == Some(&'}') => {
                    chars.next();
                    pieces.push(String::new());
                }
                c => pieces.last_mut().expect("never empty").push(c),
            }
        }
        Template { pieces }
    }

    /// A template read from the input: plain text in which every `{}` is a placeholder.
    pub(crate) fn from_value(value: &Value) -> Result<Template, StatesError> {
        let text = expect_string("States.Format", 1, value)?;
        Ok(Template {
            pieces: text.split("{}").map(str::to_string).collect(),
        })
    }

    /// How many `{}` the template holds.
    pub(crate) fn placeholders(&self) -> usize {
        self.pieces.len() - 1
    }
}

/// Fills each `{}` with the natural string form of the matching argument.
pub(super) fn format(template: &Template, args: &[Value]) -> Result<Value, StatesError> {
    const F: &str = "States.Format";
    if template.placeholders() != args.len() {
        return Err(StatesError::intrinsic(format!(
            "{F}: the template has {} '{{}}' placeholder(s) but {} value(s) were given",
            template.placeholders(),
            args.len()
        )));
    }
    let mut out = template.pieces[0].clone();
    for (arg, piece) in args.iter().zip(&template.pieces[1..]) {
        render(arg, &mut out);
        out.push_str(piece);
    }
    Ok(Value::String(out))
}

/// A value as States.Format writes it: a string as itself, other scalars as JSON, and
/// objects and arrays as AWS renders them (Java's collection style, `{a=1, b=[x, 2]}`:
/// `key=value` pairs and items separated by `, `, strings inside unquoted).
fn render(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Number(_) | Value::Bool(_) | Value::Null => out.push_str(&value.to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                render(item, out);
            }
            out.push('}');
        }
    }
}

/// Splits a string at every character of the delimiter set, dropping empty pieces.
///
/// AWS's own example splits "This.is+a,test=string" on ".+,=" into five words, so the
/// second argument is a set of delimiting characters, not a separator string.
pub(super) fn split(text: &Value, delimiters: &Value) -> Result<Value, StatesError> {
    const F: &str = "States.StringSplit";
    let text = expect_string(F, 1, text)?;
    let delimiters: Vec<char> = expect_string(F, 2, delimiters)?.chars().collect();
    Ok(Value::Array(
        text.split(|c| delimiters.contains(&c))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Value::String(piece.to_string()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use crate::asl::intrinsics::tests::eval;
    use serde_json::json;

    #[test]
    fn format_examples() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            eval(
                "States.Format('Hello, my name is {}.', $.name)",
                input.clone()
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            eval("States.Format($.template, $.name)", input).unwrap(),
            json!("Hello, my name is Arnav.")
        );
        let input = json!({"name": "Foo", "zebra": "stripe"});
        assert_eq!(
            eval(
                "States.Format('Your name is {}, we are in the year {}', $.name, 2020)",
                input
            )
            .unwrap(),
            json!("Your name is Foo, we are in the year 2020")
        );
    }

    #[test]
    fn format_escapes() {
        // In a definition's JSON these are written with doubled backslashes.
        let value = eval(
            r"States.Format('escaped \{\} and {} it\'s \\ done', 'x')",
            json!({}),
        )
        .unwrap();
        assert_eq!(value, json!(r"escaped {} and x it's \ done"));
    }

    #[test]
    fn format_renders_scalars_naturally_and_structures_as_aws_does() {
        assert_eq!(
            eval("States.Format('{} {} {}', true, null, 1.5)", json!({})).unwrap(),
            json!("true null 1.5")
        );
        assert_eq!(
            eval("States.Format('{}', $.o)", json!({"o": {"a": 1, "b": []}})).unwrap(),
            json!("{a=1, b=[]}")
        );
        assert_eq!(
            eval(
                "States.Format('{} and {}', $.list, $.nested)",
                json!({"list": ["x", 2, null, true], "nested": {"k": {"s": "t", "n": [1.5]}}})
            )
            .unwrap(),
            json!("[x, 2, null, true] and {k={s=t, n=[1.5]}}")
        );
        let err = eval("States.Format($.t, 1)", json!({"t": "no placeholders"})).unwrap_err();
        assert!(
            err.cause.contains("0 '{}' placeholder(s) but 1"),
            "{}",
            err.cause
        );
    }

    #[test]
    fn string_split_examples() {
        let input = json!({"inputString": "1,2,3,4,5", "splitter": ","});
        assert_eq!(
            eval("States.StringSplit($.inputString, $.splitter)", input).unwrap(),
            json!(["1", "2", "3", "4", "5"])
        );
        let input = json!({"inputString": "This.is+a,test=string", "splitter": ".+,="});
        assert_eq!(
            eval("States.StringSplit($.inputString, $.splitter)", input).unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            eval("States.StringSplit(',a,,b,', ',')", json!({})).unwrap(),
            json!(["a", "b"])
        );
        assert!(eval("States.StringSplit(1, ',')", json!({})).is_err());
    }
}
