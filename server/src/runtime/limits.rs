//! AWS's documented lengths and patterns for the members both APIs share (the Step
//! Functions API reference, per action), checked once here so the gRPC and the AWS API
//! refuse the same things with the same words. A value out of bounds is never stored.
//!
//! Messages follow AWS's ValidationException wording ("Value at 'cause' failed to satisfy
//! constraint: Member must have length less than or equal to 32768"), without echoing the
//! value back (it may be a megabyte).

use serde_json::Value;

use super::RuntimeError;
use crate::asl::json::MAX_NESTING;

/// StopExecution and SendTaskFailure: `error` is at most 256 characters.
pub const MAX_ERROR_CHARS: usize = 256;
/// StopExecution and SendTaskFailure: `cause` is at most 32,768 characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;
/// GetActivityTask: `workerName` is at most 80 characters.
pub const MAX_WORKER_NAME_CHARS: usize = 80;
/// Task tokens are 1 to 1,024 characters.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// Tag keys are 1 to 128 characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Tag values are at most 256 characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// At most 50 tags on a resource.
pub const MAX_TAGS: usize = 50;

/// Checks that `value` (the member `member`) has `min..=max` characters.
pub fn check_length(member: &str, value: &str, min: usize, max: usize) -> Result<(), RuntimeError> {
    let count = value.chars().count();
    let bound = if count < min {
        format!("greater than or equal to {min}")
    } else if count > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(RuntimeError::InvalidArgument(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length {bound} (it has {count} characters)"
    )))
}

/// An error name and cause, as StopExecution and SendTaskFailure take them.
pub fn check_error_and_cause(error: &str, cause: &str) -> Result<(), RuntimeError> {
    check_length("error", error, 0, MAX_ERROR_CHARS)?;
    check_length("cause", cause, 0, MAX_CAUSE_CHARS)
}

/// Checks tags as AWS does, so a create call can refuse bad tags before it creates
/// anything: keys 1 to 128 characters, values at most 256, both only Unicode letters,
/// digits, white space and `_ . : / = + - @` (the Step Functions API reference, Tag);
/// the `aws:` prefix is reserved for AWS; at most 50.
pub fn check_tags(tags: &[(String, String)]) -> Result<(), RuntimeError> {
    for (key, value) in tags {
        check_length("tags.member.key", key, 1, MAX_TAG_KEY_CHARS)?;
        check_length("tags.member.value", value, 0, MAX_TAG_VALUE_CHARS)?;
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(RuntimeError::InvalidArgument(format!(
                "the tag key '{key}' begins with 'aws:', which is reserved for AWS"
            )));
        }
        for (what, text) in [("key", key), ("value", value)] {
            if let Some(bad) = text.chars().find(|c| !allowed_in_tag(*c)) {
                return Err(RuntimeError::InvalidArgument(format!(
                    "the tag {what} '{}' contains '{}'; tags may only contain Unicode letters, digits, white space and _ . : / = + - @",
                    text.escape_default(),
                    bad.escape_default()
                )));
            }
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(RuntimeError::TooManyTags(format!(
            "{} tags given; at most {MAX_TAGS} are allowed",
            tags.len()
        )));
    }
    Ok(())
}

/// AWS's tag pattern: `[\p{L}\p{Z}\p{N}_.:/=+\-@]`. `\p{Z}` is the space separators, not
/// every white-space character: a tab or a newline is a control character.
fn allowed_in_tag(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

/// Parses JSON text from a caller; `invalid` builds the error naming what was wrong.
pub fn parse_json(
    text: &str,
    what: &str,
    max_bytes: usize,
    invalid: fn(String) -> RuntimeError,
) -> Result<Value, RuntimeError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    if text.len() > max_bytes {
        return Err(invalid(format!(
            "the {what} is {} bytes, more than the {max_bytes}-byte limit",
            text.len()
        )));
    }
    // Measured before parsing, so the message names the limit rather than serde_json's
    // own recursion limit, and nothing deeper than the engine accepts is ever stored.
    let depth = crate::asl::json::measure_text(text.as_bytes()).depth;
    if depth > MAX_NESTING {
        return Err(invalid(format!(
            "the {what} nests {depth} levels deep; at most {MAX_NESTING} levels are allowed"
        )));
    }
    serde_json::from_str(text).map_err(|e| invalid(format!("the {what} is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Vec<(String, String)> {
        vec![(key.to_string(), value.to_string())]
    }

    #[test]
    fn lengths_are_checked_in_characters_with_aws_wording() {
        assert!(check_length("error", &"é".repeat(256), 0, 256).is_ok());
        let err = check_length("error", &"x".repeat(1000), 0, 256).unwrap_err();
        assert_eq!(err.aws_code(), "ValidationException");
        assert!(
            err.to_string()
                .contains("Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256"),
            "{err}"
        );
        assert!(
            check_length("name", "", 1, 80)
                .unwrap_err()
                .to_string()
                .contains("greater than or equal to 1")
        );
        assert!(check_error_and_cause("E", &"c".repeat(MAX_CAUSE_CHARS + 1)).is_err());
        assert!(check_error_and_cause(&"e".repeat(MAX_ERROR_CHARS), "").is_ok());
    }

    #[test]
    fn tags_follow_the_aws_pattern() {
        assert!(check_tags(&tag("team", "core / ops @ 2026 + x=y: ü")).is_ok());
        assert!(check_tags(&tag("team", "")).is_ok(), "values may be empty");
        for (key, value, why) in [
            ("aws:owner", "x", "reserved"),
            ("AWS:owner", "x", "reserved"),
            ("", "x", "greater than or equal to 1"),
            ("bell\u{7}", "x", "contains"),
            ("team", "line\nbreak", "contains"),
            ("team", "semi;colon", "contains"),
            (&"k".repeat(129), "x", "less than or equal to 128"),
        ] {
            let err = check_tags(&tag(key, value)).unwrap_err().to_string();
            assert!(err.contains(why), "{key:?}={value:?}: {err}");
        }
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(check_tags(&many).unwrap_err().aws_code(), "TooManyTags");
    }
}
