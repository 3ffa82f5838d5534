//! Intrinsic functions (`States.Format(...)`, `States.Array(...)`, ...): parsing a call
//! once, when the definition is read, and evaluating it against a state's input.
//!
//! One file per family, as the AWS documentation groups them: `array`, `encoding`
//! (Base64 and hashing), `json`, `math`, `string` (Format and StringSplit) and
//! `generation` (UUID). Failures at run time are `States.IntrinsicFailure`; syntax
//! errors are reported when the definition is validated.

mod array;
mod encoding;
mod generation;
mod json;
mod math;
mod string;

use serde_json::Value;

pub(crate) use encoding::digest;
pub(crate) use generation::uuid_from_words;

use super::error::StatesError;
use super::eval::Env;
use super::json::describe;
use super::path::Path;

/// AWS: "You can nest up to 10 intrinsic functions within a field."
pub const MAX_NESTING: usize = 10;

/// Every intrinsic function the language defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    /// The name as written in a definition, e.g. `States.Format`.
    pub fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How many arguments the function takes: (at least, at most).
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
            Function::MathRandom => (2, Some(3)),
        }
    }
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A quoted string, kept as written (escapes unresolved) because `States.Format`
    /// must tell an escaped `\{` from a placeholder `{}`.
    String(String),
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// A path into the input (`$.x`) or the context object (`$$.x`).
    Path(Path),
    /// A nested call.
    Call(Box<Call>),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function called.
    pub function: Function,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
}

/// A syntax error in an intrinsic function call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid intrinsic function call '{text}': {reason}")]
pub struct SyntaxError {
    /// The call as written.
    pub text: String,
    /// What is wrong, with the character offset where it was found.
    pub reason: String,
}

/// Whether a `.$` value is meant as an intrinsic call rather than a path.
pub fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    /// Parses `States.Name(arg, ...)`.
    pub fn parse(text: &str) -> Result<Call, SyntaxError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let result = parser
            .skip_ws()
            .and_then(|_| parser.call(1))
            .and_then(|call| {
                parser.skip_ws()?;
                if parser.pos < parser.chars.len() {
                    return Err(format!(
                        "unexpected text after the call at offset {}",
                        parser.pos
                    ));
                }
                Ok(call)
            });
        result.map_err(|reason| SyntaxError {
            text: text.to_string(),
            reason,
        })
    }

    /// Evaluates the call against `input`.
    pub fn evaluate(&self, input: &Value, env: &mut Env) -> Result<Value, StatesError> {
        let mut args = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            args.push(match arg {
                Arg::String(raw) => Value::String(unescape(raw)),
                Arg::Literal(value) => value.clone(),
                Arg::Path(path) => path.select(input, env.sources()).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "{}: the path '{}' selects nothing in the input",
                        self.function.name(),
                        path.text()
                    ))
                })?,
                Arg::Call(call) => call.evaluate(input, env)?,
            });
        }
        let f = self.function;
        match f {
            Function::Format => {
                // A literal template keeps its escapes so `\{` stays text; one read
                // from the input has no escapes, only `{}` placeholders.
                let template = match &self.args[0] {
                    Arg::String(raw) => string::Template::from_literal(raw),
                    _ => string::Template::from_value(&args[0])?,
                };
                string::format(&template, &args[1..])
            }
            Function::StringSplit => string::split(&args[0], &args[1]),
            Function::StringToJson => json::string_to_json(&args[0]),
            Function::JsonToString => json::json_to_string(&args[0]),
            Function::JsonMerge => json::merge(&args[0], &args[1], &args[2]),
            Function::Array => Ok(Value::Array(args)),
            Function::ArrayPartition => array::partition(&args[0], &args[1]),
            Function::ArrayContains => array::contains(&args[0], &args[1]),
            Function::ArrayRange => array::range(&args[0], &args[1], &args[2]),
            Function::ArrayGetItem => array::get_item(&args[0], &args[1]),
            Function::ArrayLength => array::length(&args[0]),
            Function::ArrayUnique => array::unique(&args[0]),
            Function::Base64Encode => encoding::base64_encode(&args[0]),
            Function::Base64Decode => encoding::base64_decode(&args[0]),
            Function::Hash => encoding::hash(&args[0], &args[1]),
            Function::MathRandom => math::random(&args[0], &args[1], args.get(2), env),
            Function::MathAdd => math::add(&args[0], &args[1]),
            Function::Uuid => Ok(generation::uuid(env)),
        }
    }
}

/// Resolves the escapes `\'`, `\{`, `\}` and `\\` of a quoted argument (already checked
/// by the parser, so every backslash starts a valid escape).
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> Result<(), String> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        Ok(())
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_NESTING {
            return Err(format!("calls are nested more than {MAX_NESTING} deep"));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let function = Function::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
            format!(
                "'{name}' is not an intrinsic function (known: {})",
                known.join(", ")
            )
        })?;
        self.skip_ws()?;
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name} at offset {}", self.pos));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws()?;
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws()?;
                args.push(self.arg(depth)?);
                self.skip_ws()?;
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => {
                        return Err(format!(
                            "expected ',' or ')' at offset {} but found '{c}'",
                            self.pos
                        ));
                    }
                    None => return Err(format!("{name}( is never closed")),
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || max.is_some_and(|max| args.len() > max) {
            let expected = match max {
                Some(max) if max == min => format!("{min}"),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            return Err(format!(
                "{name} takes {expected} argument(s), got {}",
                args.len()
            ));
        }
        check_static_arguments(function, &args)?;
        Ok(Call { function, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string().map(Arg::String),
            Some('$') => self.path().map(Arg::Path),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number().map(Arg::Literal),
            Some('S') => self.call(depth + 1).map(|c| Arg::Call(Box::new(c))),
            Some(_) => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.rest_starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Err(format!(
                    "unexpected text at offset {}: an argument is a 'string', a number, true, false, null, a path or a call",
                    self.pos
                ))
            }
            None => Err("the call ends where an argument was expected".into()),
        }
    }

    fn rest_starts_with(&self, word: &str) -> bool {
        let rest: String = self.chars[self.pos..].iter().take(word.len()).collect();
        rest == word
    }

    fn string(&mut self) -> Result<String, String> {
        let open = self.pos;
        self.pos += 1;
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(format!(
                        "the string starting at offset {open} is never closed"
                    ));
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(raw);
                }
                Some('\\') => {
                    let next = self.chars.get(self.pos + 1).copied();
                    match next {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            raw.push('\\');
                            raw.push(c);
                            self.pos += 2;
                        }
                        _ => {
                            return Err(format!(
                                "open escape '\\' at offset {}: only \\', \\{{, \\}} and \\\\ are escapes",
                                self.pos
                            ));
                        }
                    }
                }
                Some(c) => {
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<serde_json::Number>(&text)
            .map(Value::Number)
            .map_err(|_| format!("'{text}' at offset {start} is not a number"))
    }

    /// A path runs until a ',' or ')' outside brackets and quotes.
    fn path(&mut self) -> Result<Path, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                // A backslash escapes the next character, if there is one; a trailing
                // backslash is just the end of the text (found by fuzzing).
                if c == '\\' && self.pos + 1 < self.chars.len() {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    '\'' | '"' => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    ',' if depth == 0 => break,
                    c if c.is_whitespace() && depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        Path::parse(&text).map_err(|e| e.to_string())
    }
}

/// Checks the argument rules that can be decided without the input.
fn check_static_arguments(function: Function, args: &[Arg]) -> Result<(), String> {
    match (function, args.first()) {
        (Function::Format, Some(Arg::String(raw))) => {
            let placeholders = string::Template::from_literal(raw).placeholders();
            if placeholders != args.len() - 1 {
                return Err(format!(
                    "States.Format's template has {placeholders} '{{}}' placeholder(s) but {} value(s) follow it",
                    args.len() - 1
                ));
            }
            Ok(())
        }
        (Function::Format, Some(Arg::Literal(v))) => Err(format!(
            "States.Format's first argument must be a string, not {}",
            describe(v)
        )),
        (Function::JsonToString, Some(arg)) if !matches!(arg, Arg::Path(_)) => {
            Err("States.JsonToString takes a path, such as $.data".into())
        }
        _ => Ok(()),
    }
}

/// Argument checks shared by the families. `position` counts from 1, as people do.
pub(crate) fn expect_array<'v>(
    f: &str,
    position: usize,
    value: &'v Value,
) -> Result<&'v Vec<Value>, StatesError> {
    value.as_array().ok_or_else(|| {
        StatesError::intrinsic(format!(
            "{f}: argument {position} must be an array, not {}",
            describe(value)
        ))
    })
}

/// A string argument.
pub(crate) fn expect_string<'v>(
    f: &str,
    position: usize,
    value: &'v Value,
) -> Result<&'v str, StatesError> {
    value.as_str().ok_or_else(|| {
        StatesError::intrinsic(format!(
            "{f}: argument {position} must be a string, not {}",
            describe(value)
        ))
    })
}

/// An integer argument; AWS rounds a non-integer number to the nearest integer, a half
/// toward positive infinity (1.5 → 2, -1.5 → -1, -0.5 → 0: Java's `Math.round`, which
/// the recorded AWS results follow).
pub(crate) fn expect_integer(f: &str, position: usize, value: &Value) -> Result<i64, StatesError> {
    let number = value.as_f64().ok_or_else(|| {
        StatesError::intrinsic(format!(
            "{f}: argument {position} must be a number, not {}",
            describe(value)
        ))
    })?;
    let rounded = round_half_up(number);
    if !rounded.is_finite() || rounded.abs() > 9_007_199_254_740_992.0 {
        return Err(StatesError::intrinsic(format!(
            "{f}: argument {position} ({number}) is out of range"
        )));
    }
    Ok(rounded as i64)
}

/// `number` rounded to the nearest integer, a half upwards. Comparing with the floor
/// (rather than adding 0.5) keeps 0.49999999999999994 at 0.
fn round_half_up(number: f64) -> f64 {
    let floor = number.floor();
    if number - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// An argument AWS documents as an integer ("You must specify integer values for all of
/// the arguments", States.ArrayRange): a number with a fractional part is an error, not
/// rounded. `2.0` is the integer 2 (JSON does not tell them apart).
pub(crate) fn expect_whole(f: &str, position: usize, value: &Value) -> Result<i64, StatesError> {
    let number = value.as_f64().ok_or_else(|| {
        StatesError::intrinsic(format!(
            "{f}: argument {position} must be an integer, not {}",
            describe(value)
        ))
    })?;
    if number.fract() != 0.0 {
        return Err(StatesError::intrinsic(format!(
            "{f}: argument {position} must be an integer, not {number}"
        )));
    }
    expect_integer(f, position, value)
}

/// Strings are limited to 10,000 characters in Base64 and Hash.
pub(crate) const MAX_ENCODED_CHARS: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::random::SeededRandom;
    use serde_json::json;

    pub(crate) fn eval(call: &str, input: Value) -> Result<Value, StatesError> {
        let context = json!({"Execution": {"Name": "run-1"}});
        let mut random = SeededRandom::new(42);
        let mut env = Env::new(&context, &mut random);
        Call::parse(call)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(&input, &mut env)
    }

    #[test]
    fn parses_nested_calls_paths_and_literals() {
        let call = Call::parse(
            "States.Array('a', 1.5, -2, true, null, $.x, $$.Execution.Name, States.Array())",
        )
        .unwrap();
        assert_eq!(call.function, Function::Array);
        assert_eq!(call.args.len(), 8);
        assert_eq!(
            eval(
                "States.Array('a', 1.5, -2, true, null, $.x, $$.Execution.Name, States.Array())",
                json!({"x": {"y": 1}})
            )
            .unwrap(),
            json!(["a", 1.5, -2, true, null, {"y": 1}, "run-1", []])
        );
    }

    #[test]
    fn a_path_argument_ending_in_an_open_quote_and_a_backslash_is_an_error_not_a_panic() {
        // Found by the `expression` fuzz target (server/fuzz/regressions/expression/).
        assert!(Call::parse("States.Array($.\"\\").is_err());
    }

    #[test]
    fn aws_nine_nested_calls_example() {
        // AWS's page writes this template as '{}.{}.{}' but passes only two values, which
        // its own rule ("as many remaining arguments as there are occurrences of {}")
        // forbids; the two-placeholder form is the one that can run.
        let call = "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my.recipe/1.0.0"}});
        // Splitting on '/' gives [arn..., "my.recipe", "1.0.0"]; item 2 split on '.' is
        // ["1", "0", "0"], whose items 0 and 1 are formatted.
        assert_eq!(eval(call, input).unwrap(), json!("1.0"));
    }

    #[test]
    fn nesting_deeper_than_ten_is_a_syntax_error() {
        let mut call = String::from("States.Array()");
        for _ in 0..10 {
            call = format!("States.Array({call})");
        }
        let err = Call::parse(&call).unwrap_err();
        assert!(err.reason.contains("nested more than 10"), "{err}");
    }

    #[test]
    fn syntax_errors_say_what_is_wrong() {
        let cases = [
            ("States.Nope(1)", "is not an intrinsic function"),
            ("States.Array(1", "never closed"),
            ("States.Array('a)", "never closed"),
            ("States.Array('bad \\n escape')", "open escape"),
            ("States.UUID(1)", "takes 0 argument"),
            ("States.MathAdd(1)", "takes 2 argument"),
            (
                "States.Format('{} and {}', $.a)",
                "2 '{}' placeholder(s) but 1",
            ),
            ("States.JsonToString('x')", "takes a path"),
            ("States.Array(1) extra", "unexpected text after the call"),
            ("States.Array(foo)", "unexpected text"),
            ("States.Array($.a[)", "not a valid path"),
        ];
        for (call, expected) in cases {
            let err = Call::parse(call).expect_err(call);
            assert!(err.to_string().contains(expected), "{call}: {err}");
        }
    }

    #[test]
    fn path_argument_that_selects_nothing_is_a_runtime_error() {
        let err = eval("States.Array($.missing)", json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("$.missing"));
    }

    #[test]
    fn paths_with_filters_parse_as_one_argument() {
        let input = json!({"items": [{"p": 1}, {"p": 5}]});
        assert_eq!(
            eval("States.ArrayLength($.items[?(@.p > 2)])", input).unwrap(),
            json!(1)
        );
    }
}
