//! "Did you mean ...?": the closest name to a misspelt one.

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 2).max(2);
    candidates
        .filter(|c| *c != word)
        .filter_map(|c| {
            let c_lower = c.to_lowercase();
            // A truncated name ("Timeout" for "TimeoutSeconds") is as likely a slip as a typo.
            let distance = if word.len() >= 4 && c_lower.starts_with(&word_lower) {
                1
            } else {
                edit_distance(&word_lower, &c_lower)
            };
            (distance <= limit).then_some((distance, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}
