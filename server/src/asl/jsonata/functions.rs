//! The functions AWS adds to JSONata (`$partition`, `$range`, `$hash`, `$random` with a
//! seed, `$uuid`, `$parse`), the ones it takes away (`$eval`: "use $parse instead"),
//! and the impure built-ins made pure: `$millis` (and so `$now`, see `guard`) is the
//! engine's time, `$random` and `$uuid` draw from a generator seeded from the engine's
//! random source. Only the functions an expression names are registered.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use jsonata_core::evaluator::{Evaluator, EvaluatorError};
use jsonata_core::value::JValue;

use super::Limits;
use super::convert::{from_jsonata, to_jsonata};
use super::guard::CHECK_SIZE;
use crate::asl::eval::Env;
use crate::asl::intrinsics::{digest, uuid_from_words};
use crate::asl::json::{MAX_NESTING, measure_text};
use crate::asl::random::{RandomSource, SeededRandom};

type Outcome = Result<JValue, EvaluatorError>;

fn error(message: impl Into<String>) -> EvaluatorError {
    EvaluatorError::EvaluationError(message.into())
}

/// Registers what `functions` (the names an expression calls) needs.
pub fn register(
    evaluator: &mut Evaluator,
    functions: &BTreeSet<String>,
    env: &mut Env,
    limits: &Limits,
) {
    let wants = |name: &str| functions.contains(name);
    // Registration fails only for names that clash with compiled built-ins; none of
    // these do (the tests call each one).
    if wants("millis") || wants("now") {
        let now = env.now_ms as f64;
        let _ = evaluator.register_fn_override("millis", move |_: &[JValue]| -> Outcome {
            Ok(JValue::Number(now))
        });
    }
    if wants("random") || wants("uuid") {
        let generator = Rc::new(RefCell::new(SeededRandom::new(env.random.next_u64())));
        if wants("random") {
            let generator = generator.clone();
            let _ = evaluator
                .register_fn_override("random", move |args: &[JValue]| random(args, &generator));
        }
        if wants("uuid") {
            let _ = evaluator.register_fn("uuid", move |args: &[JValue]| -> Outcome {
                no_arguments("uuid", args)?;
                let mut g = generator.borrow_mut();
                let words = (g.next_u64(), g.next_u64());
                Ok(JValue::string(uuid_from_words(words.0, words.1)))
            });
        }
    }
    if wants("eval") {
        let _ = evaluator.register_fn_override("eval", |_: &[JValue]| -> Outcome {
            Err(error(
                "T1006: Attempted to invoke a non-function: $eval is not available in Step Functions; use $parse",
            ))
        });
    }
    if wants("partition") {
        let _ = evaluator.register_fn("partition", partition);
    }
    if wants("range") {
        let max = limits.max_sequence;
        let _ = evaluator.register_fn("range", move |args: &[JValue]| range(args, max));
    }
    if wants("hash") {
        let _ = evaluator.register_fn("hash", hash);
    }
    if wants("parse") {
        let _ = evaluator.register_fn("parse", parse);
    }
    let limit = limits.memory_bytes;
    let _ = evaluator.register_fn(CHECK_SIZE, move |args: &[JValue]| check_size(args, limit));
}

fn no_arguments(name: &str, args: &[JValue]) -> Result<(), EvaluatorError> {
    if args.iter().all(JValue::is_undefined) {
        Ok(())
    } else {
        Err(error(format!("T0410: ${name} takes no arguments")))
    }
}

fn argument<'a>(name: &str, args: &'a [JValue], index: usize) -> &'a JValue {
    let _ = name;
    args.get(index).unwrap_or(&JValue::Undefined)
}

fn whole(name: &str, position: usize, value: &JValue) -> Result<i64, EvaluatorError> {
    match value {
        JValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(*n as i64),
        _ => Err(error(format!(
            "T0410: Argument {position} of function ${name} must be an integer"
        ))),
    }
}

/// `$random([seed])`: in `[0, 1)`; the same seed always gives the same number.
fn random(args: &[JValue], generator: &Rc<RefCell<SeededRandom>>) -> Outcome {
    match argument("random", args, 0) {
        JValue::Undefined => Ok(JValue::Number(generator.borrow_mut().next_f64())),
        seed => {
            let seed = whole("random", 1, seed)?;
            Ok(JValue::Number(SeededRandom::new(seed as u64).next_f64()))
        }
    }
}

/// `$partition(array, size)`: the array in chunks of `size`; the last may be shorter.
fn partition(args: &[JValue]) -> Outcome {
    let items = match argument("partition", args, 0) {
        JValue::Array(items) => items.to_vec(),
        JValue::Undefined => return Ok(JValue::Undefined),
        _ => {
            return Err(error(
                "T0410: Argument 1 of function $partition must be an array",
            ));
        }
    };
    let size = whole("partition", 2, argument("partition", args, 1))?;
    if size <= 0 {
        return Err(error(format!(
            "D3001: the chunk size of $partition must be a positive integer, not {size}"
        )));
    }
    Ok(JValue::array(
        items
            .chunks(size as usize)
            .map(|chunk| JValue::array(chunk.to_vec()))
            .collect(),
    ))
}

/// `$range(start, end, step)`: the integers from `start` to `end` inclusive.
fn range(args: &[JValue], max_items: usize) -> Outcome {
    let start = whole("range", 1, argument("range", args, 0))?;
    let end = whole("range", 2, argument("range", args, 1))?;
    let step = whole("range", 3, argument("range", args, 2))?;
    if step == 0 {
        return Err(error("D3001: the step of $range must not be 0"));
    }
    let count = if (step > 0 && end < start) || (step < 0 && end > start) {
        0
    } else {
        ((end as i128 - start as i128) / step as i128 + 1) as u128
    };
    // Counted before anything is built: a range is the cheapest way to ask for memory.
    if count > max_items as u128 {
        return Err(error(format!(
            "D2015: The maximum sequence length of {max_items} was exceeded ($range would hold {count} items)"
        )));
    }
    Ok(JValue::array(
        (0..count as i64)
            .map(|i| JValue::Number((start + i * step) as f64))
            .collect(),
    ))
}

/// `$hash(value, algorithm)`: the hex digest of a string (any other value: its JSON).
fn hash(args: &[JValue]) -> Outcome {
    let text = match argument("hash", args, 0) {
        JValue::String(s) => s.to_string(),
        JValue::Undefined => return Ok(JValue::Undefined),
        other => from_jsonata(other, usize::MAX).map_err(error)?.to_string(),
    };
    let algorithm = match argument("hash", args, 1) {
        JValue::String(s) => s.to_string(),
        _ => {
            return Err(error(
                "T0410: Argument 2 of function $hash must be a string",
            ));
        }
    };
    digest(&algorithm, text.as_bytes())
        .map(JValue::string)
        .ok_or_else(|| {
            error(format!(
                "D3001: '{algorithm}' is not a hash algorithm $hash supports (MD5, SHA-1, SHA-256, SHA-384, SHA-512)"
            ))
        })
}

/// `$parse(text)`: the JSON value the text holds.
fn parse(args: &[JValue]) -> Outcome {
    let text = match argument("parse", args, 0) {
        JValue::String(s) => s.clone(),
        JValue::Undefined => return Ok(JValue::Undefined),
        _ => {
            return Err(error(
                "T0410: Argument 1 of function $parse must be a string",
            ));
        }
    };
    // The same nesting limit as every other value, checked before parsing.
    if measure_text(text.as_bytes()).depth > MAX_NESTING {
        return Err(error(format!(
            "D3001: the text given to $parse nests more than {MAX_NESTING} levels deep"
        )));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "D3001: $parse was given text that is not JSON: {e}"
        ))
    })?;
    Ok(to_jsonata(&value))
}

/// `$__stepwise_check_size(name, args...)`: refuses a call of a checked built-in whose
/// output would be larger than `limit` bytes (see `guard`).
fn check_size(args: &[JValue], limit: usize) -> Outcome {
    let name = args.first().and_then(JValue::as_str).unwrap_or_default();
    let args = &args[1.min(args.len())..];
    let arg = |i: usize| args.get(i).unwrap_or(&JValue::Undefined);
    let bytes = match name {
        "string" => {
            let pretty = matches!(arg(1), JValue::Bool(true));
            text_size(arg(0), pretty, limit)
        }
        "join" => match arg(0) {
            JValue::Array(items) => {
                let separator = arg(1).as_str().map_or(0, str::len);
                let mut total = separator.saturating_mul(items.len().saturating_sub(1));
                for item in items.iter() {
                    total = total.saturating_add(item.as_str().map_or(0, str::len));
                    if total > limit {
                        break;
                    }
                }
                total
            }
            _ => 0,
        },
        "pad" => {
            let width = arg(1).as_f64().unwrap_or(0.0).abs().min(u32::MAX as f64) as usize;
            let fill = arg(2).as_str().map_or(1, |s| s.len().max(1));
            width
                .saturating_mul(fill)
                .max(arg(0).as_str().map_or(0, str::len))
        }
        "replace" => match (arg(0), arg(1), arg(2)) {
            (JValue::String(text), pattern, JValue::String(replacement)) => {
                let most = arg(3).as_f64().map_or(usize::MAX, |n| n.max(0.0) as usize);
                let matches = match pattern {
                    JValue::String(p) if !p.is_empty() => text.matches(&**p).take(most).count(),
                    // A regular expression can match at every position, and between.
                    _ => (text.len() + 1).min(most),
                };
                text.len()
                    .saturating_add(matches.saturating_mul(replacement.len()))
            }
            _ => 0,
        },
        _ => 0,
    };
    if bytes > limit {
        return Err(error(format!(
            "Expression evaluation memory limit exceeded: Check for excessive memory usage (${name} would build {bytes} bytes or more)"
        )));
    }
    Ok(JValue::Undefined)
}

/// The length of a value's JSON text, counted no further than just past `limit`.
fn text_size(value: &JValue, pretty: bool, limit: usize) -> usize {
    fn walk(value: &JValue, depth: usize, pretty: bool, total: &mut usize, limit: usize) {
        if *total > limit {
            return;
        }
        let indent = if pretty { 1 + 2 * depth } else { 0 };
        match value {
            JValue::String(s) => *total += s.len() + 2 + indent,
            JValue::Array(items) => {
                *total += 2 + indent;
                for item in items.iter() {
                    jsonata_core::value::with_stack(|| walk(item, depth + 1, pretty, total, limit));
                    if *total > limit {
                        return;
                    }
                }
            }
            JValue::Object(fields) => {
                *total += 2 + indent;
                for (key, item) in fields.iter() {
                    *total += key.len() + 3;
                    jsonata_core::value::with_stack(|| walk(item, depth + 1, pretty, total, limit));
                    if *total > limit {
                        return;
                    }
                }
            }
            _ => *total += 8 + indent,
        }
    }
    let mut total = 0;
    walk(value, 0, pretty, &mut total, limit);
    total
}
