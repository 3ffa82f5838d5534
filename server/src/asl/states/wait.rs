//! Wait: delays the execution for some seconds or until a timestamp, written in the
//! definition or read from the input. The engine turns the due time into a durable
//! timer; a due time already past fires at once.

use crate::asl::validate::Code;
use crate::asl::validate::MAX_SECONDS;
use crate::asl::validate::Obj;
use crate::asl::validate::Reader;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::asl::definition::{Setting, unexpected_value};
use crate::asl::error::StatesError;
use crate::asl::eval::Env;
use crate::asl::jsonata::{Expression, States};
use crate::asl::path::ReferencePath;
use crate::asl::timestamp;

/// Exactly one of the four ways to say how long to wait.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    /// `Seconds` or `SecondsPath`.
    Seconds(Setting<u64>),
    /// `Timestamp`.
    Timestamp(Timestamp),
    /// `TimestampPath`.
    TimestampPath(ReferencePath),
    /// JSONata `"Timestamp": "{% ... %}"`.
    TimestampExpression(Expression),
}

/// A Wait state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    /// How long.
    pub wait_for: WaitFor,
}

impl Wait {
    /// When the wait ends, for a state entered at `entered`; `input` is the state input
    /// after InputPath.
    pub fn due(
        &self,
        input: &Value,
        env: &mut Env,
        entered: Timestamp,
    ) -> Result<Timestamp, StatesError> {
        match &self.wait_for {
            WaitFor::Seconds(seconds) => {
                let seconds = seconds.resolve(input, env, "SecondsPath")?;
                let seconds = i64::try_from(seconds)
                    .map_err(|_| StatesError::runtime("SecondsPath is too large"))?;
                entered
                    .checked_add(SignedDuration::from_secs(seconds))
                    .map_err(|_| {
                        StatesError::runtime(format!(
                            "waiting {seconds} seconds goes past the year 9999"
                        ))
                    })
            }
            WaitFor::Timestamp(at) => Ok(*at),
            WaitFor::TimestampExpression(expression) => {
                let states = States {
                    input,
                    result: None,
                    error_output: None,
                };
                let value = expression.evaluate(&states, env, "Timestamp")?;
                value.as_str().and_then(timestamp::parse).ok_or_else(|| {
                    unexpected_value(
                        expression,
                        "Timestamp",
                        "an RFC 3339 timestamp such as 2016-03-14T01:59:00Z",
                        &value,
                    )
                })
            }
            WaitFor::TimestampPath(path) => {
                let value = path.get(input, env.sources()).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "TimestampPath '{}' selects nothing in the state's input",
                        path.text()
                    ))
                })?;
                value.as_str().and_then(timestamp::parse).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "TimestampPath '{}' must select an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, but it selects {value}",
                        path.text()
                    ))
                })
            }
        }
    }
}

// ---- reading the definition ---------------------------------------------------

impl Reader {
    pub(crate) fn wait(&mut self, obj: Obj) -> Option<Wait> {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.has(k))
            .collect();
        if present.len() != 1 {
            let message = if present.is_empty() {
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath; it has none".to_string()
            } else {
                format!(
                    "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath; it has {}",
                    present.join(" and ")
                )
            };
            self.schema(obj.at.to_string(), message);
            return None;
        }
        let wait_for = match present[0] {
            "Seconds" => match self.field_expression(obj, "Seconds") {
                Some(expression) => WaitFor::Seconds(Setting::Expression(expression?)),
                None => {
                    WaitFor::Seconds(Setting::Fixed(self.uint(obj, "Seconds", 0, MAX_SECONDS)?))
                }
            },
            "SecondsPath" => {
                WaitFor::Seconds(Setting::Path(self.reference_path(obj, "SecondsPath")?))
            }
            "Timestamp" => {
                if let Some(expression) = self.field_expression(obj, "Timestamp") {
                    return Some(Wait {
                        wait_for: WaitFor::TimestampExpression(expression?),
                    });
                }
                let text = self.string(obj, "Timestamp")?;
                match timestamp::parse(text) {
                    Some(ts) => WaitFor::Timestamp(ts),
                    None => {
                        self.error(
                            Code::InvalidTimestamp,
                            obj.loc("Timestamp"),
                            format!("'{text}' is not a timestamp; use RFC 3339 with an uppercase T and Z, such as \"2016-03-14T01:59:00Z\""),
                        );
                        return None;
                    }
                }
            }
            _ => WaitFor::TimestampPath(self.reference_path(obj, "TimestampPath")?),
        };
        Some(Wait { wait_for })
    }
}

impl Wait {
    /// The fields a Wait state may have in JSONPath.
    pub const FIELDS: &[&str] = &[
        "InputPath",
        "OutputPath",
        "Seconds",
        "SecondsPath",
        "Timestamp",
        "TimestampPath",
        "Assign",
        "Next",
        "End",
    ];
    /// The fields a Wait state may have in JSONata.
    pub const JSONATA_FIELDS: &[&str] =
        &["Seconds", "Timestamp", "Output", "Assign", "Next", "End"];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env<T>(f: impl FnOnce(&mut crate::asl::eval::Env) -> T) -> T {
        let context = serde_json::json!({});
        let mut random = crate::asl::random::SeededRandom::new(1);
        f(&mut crate::asl::eval::Env::new(&context, &mut random))
    }
    use serde_json::json;

    fn entered() -> Timestamp {
        timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn fixed_seconds_and_seconds_path() {
        let wait = Wait {
            wait_for: WaitFor::Seconds(Setting::Fixed(240)),
        };
        assert_eq!(
            with_env(|env| wait.due(&json!({}), env, entered())).unwrap(),
            timestamp::parse("2026-01-01T00:04:00Z").unwrap()
        );
        let wait = Wait {
            wait_for: WaitFor::Seconds(Setting::Path(
                ReferencePath::parse("$.expirydelay").unwrap(),
            )),
        };
        assert_eq!(
            with_env(|env| wait.due(&json!({"expirydelay": 5}), env, entered())).unwrap(),
            timestamp::parse("2026-01-01T00:00:05Z").unwrap()
        );
        assert!(with_env(|env| wait.due(&json!({"expirydelay": -5}), env, entered())).is_err());
        assert!(with_env(|env| wait.due(&json!({"expirydelay": "5"}), env, entered())).is_err());
    }

    #[test]
    fn timestamp_and_timestamp_path() {
        let at = timestamp::parse("2016-03-14T01:59:00Z").unwrap();
        let wait = Wait {
            wait_for: WaitFor::Timestamp(at),
        };
        assert_eq!(
            with_env(|env| wait.due(&json!({}), env, entered())).unwrap(),
            at,
            "a past timestamp is returned as is"
        );
        let wait = Wait {
            wait_for: WaitFor::TimestampPath(ReferencePath::parse("$.expirydate").unwrap()),
        };
        assert_eq!(
            with_env(|env| wait.due(
                &json!({"expirydate": "2016-03-14T01:59:00Z"}),
                env,
                entered()
            ))
            .unwrap(),
            at
        );
        let err = with_env(|env| wait.due(&json!({"expirydate": "tomorrow"}), env, entered()))
            .unwrap_err();
        assert!(err.cause.contains("RFC 3339"));
        assert!(
            with_env(|env| wait.due(&json!({}), env, entered()))
                .unwrap_err()
                .cause
                .contains("selects nothing")
        );
    }
}
