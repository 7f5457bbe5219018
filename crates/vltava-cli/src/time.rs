//! Times: the stamp in front of each stderr event line, and parsing the
//! times `--from` takes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, as RFC 3339 UTC with milliseconds: `2024-05-01T12:00:00.123Z`.
pub(crate) fn stamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Milliseconds since the epoch of a time given as RFC 3339
/// (`2024-05-01T12:00:00Z`, `2024-05-01 12:00:00`, UTC) or as `now-DURATION`.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let at = if let Some(ago) = text.strip_prefix("now-") {
        SystemTime::now().checked_sub(humantime::parse_duration(ago).ok()?)?
    } else if text == "now" {
        SystemTime::now()
    } else {
        humantime::parse_rfc3339_weak(text).ok()?
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    i64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_milliseconds() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("2024-05-01 12:00:00"), Some(1_714_564_800_000));
        let now = parse_time("now").unwrap();
        let ago = parse_time("now-15m").unwrap();
        assert!((now - ago - 900_000).abs() < 5_000, "{now} {ago}");
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("now-soon"), None);
    }

    #[test]
    fn stamps_are_rfc3339_with_milliseconds() {
        let s = stamp();
        assert_eq!(s.len(), "2024-05-01T12:00:00.123Z".len(), "{s}");
        assert!(s.ends_with('Z'));
    }
}
