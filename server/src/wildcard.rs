//! Wildcard patterns as the States Language's `StringMatches` defines them, also used for
//! the name patterns of access keys: one matcher, one set of rules.

/// Whether `text` matches `pattern` whole: `*` matches any run of characters (also
/// none); `\*` is a literal star and `\\` a literal backslash.
pub fn matches(pattern: &str, text: &str) -> bool {
    enum Token {
        Char(char),
        Star,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last star: linear in practice.
    let (mut t, mut p) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Star))
}

#[cfg(test)]
mod tests {
    use super::matches as m;

    #[test]
    fn stars_match_runs_and_escapes_match_themselves() {
        // The AWS example: "log-*.txt" matches "log-2019-12-01.txt".
        assert!(m("log-*.txt", "log-2019-12-01.txt"));
        assert!(!m("log-*.txt", "log-2019-12-01.csv"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m(r"star\*", "star*"));
        assert!(!m(r"star\*", "starlight"));
        assert!(m(r"back\\slash", r"back\slash"));
        assert!(m("*.*.*", "a.b.c"));
        assert!(m("naïve-*", "naïve-é"));
    }

    #[test]
    fn many_stars_do_not_backtrack_without_end() {
        // A naive recursive matcher takes exponential time here (the test would hang).
        let pattern = "*a".repeat(100);
        assert!(!m(&pattern, &("a".repeat(80) + "b")));
        assert!(m(&pattern, &"a".repeat(100)));
    }
}
