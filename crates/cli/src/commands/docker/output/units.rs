//! Human units as docker prints them (go-units): sizes with 3 or 4
//! significant digits, durations ("About a minute"), times.

use std::time::{SystemTime, UNIX_EPOCH};

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn scaled(size: f64, base: f64, units: &[&str; 9], precision: usize) -> String {
    let mut s = size;
    let mut i = 0;
    while s >= base && i < units.len() - 1 {
        s /= base;
        i += 1;
    }
    format!("{}{}", format_g(s, precision), units[i])
}

/// Decimal size with 3 significant digits (`docker images`, `ps -s`).
pub fn human_size(bytes: i64) -> String {
    scaled(bytes as f64, 1000.0, &DECIMAL, 3)
}

/// Decimal size with 4 significant digits (`system df`, stats net/block I/O).
pub fn human_size4(bytes: f64) -> String {
    scaled(bytes, 1000.0, &DECIMAL, 4)
}

/// Binary size with 4 significant digits (`stats` memory).
pub fn bytes_size(bytes: f64) -> String {
    scaled(bytes, 1024.0, &BINARY, 4)
}

/// Go's `%.<p>g`: `p` significant digits, trailing zeros dropped, scientific
/// notation when the exponent is below -4 or at least `p`.
pub fn format_g(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = p.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (p as i32 - 1 - exp).max(0) as usize;
    strip_zeros(&format!("{v:.decimals$}"))
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

pub use berth_engine::container::inspect::human_duration;

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// "5 minutes ago" for a unix time.
pub fn ago(unix: i64) -> String {
    format!("{} ago", human_duration(now_unix() - unix))
}

/// Go's default time format as docker prints `CreatedAt` (UTC).
pub fn go_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// Unix seconds of an RFC 3339 time string (inspect's `Created`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

/// A Go duration string (`10m`, `1h30m`, `45s`, `1.5h`) in seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// docker's `--since`/`--until` values for the API: a duration before now,
/// an RFC 3339 time, or unix seconds (passed on as they are).
pub fn api_timestamp(value: &str) -> Option<String> {
    if let Some(d) = parse_go_duration(value) {
        return Some(format!("{}", now_unix() - d as i64));
    }
    if let Some(t) = parse_rfc3339(value) {
        return Some(t.to_string());
    }
    if value
        .split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Some(value.to_owned());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp().to_string());
    }
    None
}

/// A size with an optional unit (`512m`, `1g`, `100k`, `1024`) in bytes,
/// binary multiples as docker's `RAMInBytes`.
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..digits_end].parse().ok()?;
    let mult: f64 = match t[digits_end..].trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1.5), "1.5MiB");
        assert_eq!(human_size4(123_456.0), "123.5kB");
    }

    #[test]
    fn go_g_format() {
        assert_eq!(format_g(4.096, 3), "4.1");
        assert_eq!(format_g(9.996, 3), "10");
        assert_eq!(format_g(999.9, 3), "1e+03");
        assert_eq!(format_g(12.0, 4), "12");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(21 * 86400), "3 weeks");
    }

    #[test]
    fn go_durations_and_timestamps() {
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("10s"), Some(10.0));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(api_timestamp("1700000000").as_deref(), Some("1700000000"));
        assert_eq!(
            api_timestamp("2023-11-14T22:13:20Z").as_deref(),
            Some("1700000000")
        );
        assert!(api_timestamp("yesterday").is_none());
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(ram_in_bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_in_bytes("1GB"), Some(1 << 30));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("12x"), None);
    }

    #[test]
    fn go_time_is_utc() {
        assert_eq!(go_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
    }
}
