//! Name patterns of a key's grant (`tests-*`): `*` stands for any run of characters,
//! `\*` for a star; everything else matches itself (`StringMatches`' rules, `wildcard`).

use std::fmt;

/// A pattern over state machine or queue names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Nothing to match.
    #[error("a name pattern cannot be empty")]
    Empty,
    /// Longer than 256 characters: more than any name needs (AWS allows 80).
    #[error("the name pattern '{0}' is longer than 256 characters")]
    TooLong(String),
}

impl Pattern {
    /// A pattern, checked.
    pub fn new(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.chars().count() > 256 {
            return Err(PatternError::TooLong(text.to_string()));
        }
        Ok(Pattern(text.to_string()))
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        crate::wildcard::matches(&self.0, name)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn patterns_match_whole_names() {
        assert!(matches("tests-*", "tests-"));
        assert!(matches("tests-*", "tests-unit"));
        assert!(!matches("tests-*", "test-unit"));
        assert!(!matches("tests-*", "my-tests-unit"));
        assert!(matches("*-nightly", "build-nightly"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }

    #[test]
    fn empty_and_overlong_patterns_are_refused() {
        assert_eq!(Pattern::new(""), Err(PatternError::Empty));
        assert!(matches!(
            Pattern::new(&"x".repeat(257)),
            Err(PatternError::TooLong(_))
        ));
    }
}
