//! Timestamps as the language accepts them (Wait's Timestamp, the Timestamp* Choice
//! operators): RFC 3339, with AWS's further rule that an uppercase `T` separates date
//! and time and an uppercase `Z` stands for a zero offset.
//!
//! Every date from year 0001 to 9999 is accepted, with any offset. jiff's `Timestamp`
//! ends at 9999-12-30T22:00:00Z (it leaves room for offsets), so `9999-12-31T23:59:59Z`
//! was refused as "not RFC 3339": instants are computed here from the civil date and the
//! offset, and only a Wait's due time is clamped to jiff's range (a wait that long never
//! ends either way).

use jiff::Timestamp;
use jiff::civil::DateTime;

/// An instant: seconds since the Unix epoch and the nanoseconds within that second.
pub type Instant = (i64, i32);

/// The instant an ASL timestamp names, such as `2016-03-14T01:59:00Z` or
/// `2016-03-14T01:59:00.123-05:00`; `None` for anything else.
pub fn instant(text: &str) -> Option<Instant> {
    let bytes = text.as_bytes();
    // RFC 3339 full-date is exactly 10 characters, then 'T'.
    if bytes.len() < 20 || bytes.get(10) != Some(&b'T') || !text.is_ascii() {
        return None;
    }
    let zone = &text[19..];
    let offset = zone.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset_seconds: i64 = if offset == "Z" {
        0
    } else if offset.len() == 6
        && (offset.starts_with('+') || offset.starts_with('-'))
        && offset.as_bytes()[3] == b':'
    {
        let hours: i64 = offset[1..3].parse().ok()?;
        let minutes: i64 = offset[4..6].parse().ok()?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        let magnitude = hours * 3600 + minutes * 60;
        if offset.starts_with('-') {
            -magnitude
        } else {
            magnitude
        }
    } else {
        return None;
    };
    let civil: DateTime = text[..text.len() - offset.len()].parse().ok()?;
    let date = civil.date();
    let days = days_from_civil(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let time = civil.time();
    let seconds = days * 86_400
        + i64::from(time.hour()) * 3600
        + i64::from(time.minute()) * 60
        + i64::from(time.second())
        - offset_seconds;
    Some((seconds, time.subsec_nanosecond()))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses an ASL timestamp as a jiff `Timestamp`, clamped to jiff's range (which ends
/// about a day before the end of year 9999).
pub fn parse(text: &str) -> Option<Timestamp> {
    let (seconds, nanos) = instant(text)?;
    let clamped = seconds.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let nanos = if clamped == seconds { nanos } else { 0 };
    Timestamp::new(clamped, nanos).ok()
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
    fn instants_reach_the_last_second_of_year_9999_with_any_offset() {
        let last = instant("9999-12-31T23:59:59Z").unwrap();
        assert_eq!(last, (253_402_300_799, 0));
        assert!(instant("9999-12-31T23:59:59-05:00").unwrap() > last);
        assert_eq!(instant("0001-01-01T00:00:00Z").unwrap().0, -62_135_596_800);
        assert_eq!(
            instant("2016-03-14T01:59:00.123+01:00").unwrap(),
            (
                parse("2016-03-14T00:59:00Z").unwrap().as_second(),
                123_000_000
            )
        );
        // A Wait that long is clamped to what jiff holds.
        assert_eq!(
            parse("9999-12-31T23:59:59Z"),
            Timestamp::new(Timestamp::MAX.as_second(), 0).ok()
        );
        for bad in [
            "2016-03-14T01:59:00+24:00",
            "2016-03-14T01:59:00+01:60",
            "2016-02-30T00:00:00Z",
        ] {
            assert!(instant(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn formats_with_milliseconds() {
        let ts = parse("2016-03-14T01:59:00.5Z").unwrap();
        assert_eq!(format(ts), "2016-03-14T01:59:00.500Z");
    }
}
