//! UTC calendar time without a date library: the civil date of a day
//! count, and the timestamp formats the crate writes.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`; negative counts are before 1970).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Seconds since the epoch split into (year, month, day, hour, minute, second).
fn civil(unix_secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Seconds since the Unix epoch now (0 for a clock before 1970).
pub(crate) fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current UTC time as Python's `datetime.now(timezone.utc).isoformat()`
/// prints it: `2026-11-22T04:33:42.123456+00:00` (the fraction is left out
/// when the microseconds are zero).
pub(crate) fn now_iso8601() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_iso8601(since.as_secs(), since.subsec_micros())
}

/// Format seconds and microseconds since the Unix epoch (UTC) like
/// [`now_iso8601`].
pub fn format_iso8601(unix_secs: u64, micros: u32) -> String {
    let (year, month, day, h, m, s) = civil(unix_secs);
    let fraction = if micros == 0 {
        String::new()
    } else {
        format!(".{:06}", micros.min(999_999))
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}+00:00")
}

/// A UTC timestamp usable in file names: `20261122T043342Z`.
pub(crate) fn file_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d, h, min, s) = civil(secs);
    format!("{y:04}{m:02}{d:02}T{h:02}{min:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn file_timestamps() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(file_timestamp(t), "20231114T221320Z");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
