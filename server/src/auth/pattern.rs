//! Name patterns of a key's grant (`tests-*`): `*` stands for any run of characters,
//! `?` for one; everything else matches itself.

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
        let pattern: Vec<char> = self.0.chars().collect();
        let name: Vec<char> = name.chars().collect();
        // Iterative wildcard matching with one backtrack point (the last `*`): linear
        // in practice and never exponential, whatever the pattern.
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some('?') => {
                    p += 1;
                    n += 1;
                }
                Some(c) if *c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((star_p, star_n)) => {
                        p = star_p + 1;
                        n = star_n + 1;
                        star = Some((star_p, star_n + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|c| *c == '*')
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
    fn stars_and_question_marks_match_runs_and_single_characters() {
        assert!(matches("tests-*", "tests-"));
        assert!(matches("tests-*", "tests-unit"));
        assert!(!matches("tests-*", "test-unit"));
        assert!(!matches("tests-*", "my-tests-unit"));
        assert!(matches("*-nightly", "build-nightly"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("job-?", "job-7"));
        assert!(!matches("job-?", "job-17"));
        assert!(matches("*", ""));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("naïve-*", "naïve-é"));
    }

    #[test]
    fn a_pattern_of_many_stars_does_not_backtrack_without_end() {
        // A naive recursive matcher takes exponential time here (the test would hang).
        let pattern = Pattern::new(&"*a".repeat(100)).unwrap();
        assert!(!pattern.matches(&("a".repeat(80) + "b")));
        assert!(pattern.matches(&"a".repeat(100)));
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
