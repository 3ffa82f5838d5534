//! Timestamps as the language accepts them (Wait's Timestamp, the Timestamp* Choice
//! operators): RFC 3339, with AWS's further rule that an uppercase `T` separates date
//! and time and an uppercase `Z` stands for a zero offset.

use jiff::Timestamp;

/// Parses an ASL timestamp such as `2016-03-14T01:59:00Z` or `2016-03-14T01:59:00.123-05:00`.
pub fn parse(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    // RFC 3339 full-date is exactly 10 characters, then 'T'.
    if bytes.len() < 20 || bytes.get(10) != Some(&b'T') {
        return None;
    }
    let zone = &text[19..];
    let offset = zone.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let zone_ok = offset == "Z"
        || (offset.len() == 6
            && (offset.starts_with('+') || offset.starts_with('-'))
            && offset.as_bytes()[3] == b':');
    if !zone_ok {
        return None;
    }
    text.parse::<Timestamp>().ok()
}

/// Formats a timestamp the way AWS writes them in context objects and histories
/// (milliseconds, `Z`).
pub fn format(timestamp: Timestamp) -> String {
    timestamp.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc3339_with_uppercase_t_and_z() {
        assert!(parse("2016-03-14T01:59:00Z").is_some());
        assert!(parse("2016-03-14T01:59:00.123Z").is_some());
        assert!(parse("2016-03-14T01:59:00+02:00").is_some());
        assert_eq!(
            parse("2016-03-14T01:59:00+01:00"),
            parse("2016-03-14T00:59:00Z")
        );
    }

    #[test]
    fn rejects_what_aws_rejects() {
        for bad in [
            "2016-03-14t01:59:00Z",
            "2016-03-14T01:59:00z",
            "2016-03-14 01:59:00Z",
            "2016-03-14T01:59:00",
            "2016-03-14",
            "2016-13-14T01:59:00Z",
            "not a date",
            "2016-03-14T01:59:00+0200",
        ] {
            assert!(parse(bad).is_none(), "{bad} should be rejected");
        }
    }

    #[test]
    fn formats_with_milliseconds() {
        let ts = parse("2016-03-14T01:59:00.5Z").unwrap();
        assert_eq!(format(ts), "2016-03-14T01:59:00.500Z");
    }
}
