//! `events [--interval D] [--stats] ID`: runc's event stream (stats every
//! interval, OOM events), or one stats sample.

use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, bail};
use berth_runtime::Runtime;

/// Container events: stats every interval and OOM notifications.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one stats sample and exit.
    #[arg(long)]
    pub stats: bool,
    /// Stats interval, a Go duration (5s, 100ms, 1m30s).
    #[arg(long, default_value = "5s", allow_hyphen_values = true)]
    pub interval: String,
    pub id: String,
}

/// A Go duration string (`time.ParseDuration`): a sequence of decimal
/// numbers, each with a unit (ns, us, µs, ms, s, m, h); "0" alone is 0.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow!("invalid value {s:?} for flag -interval: parse error");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        bail!("duration interval must be greater than 0");
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let interval = parse_duration(&a.interval)?;
    if interval.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    let stdout = std::io::stdout();
    if a.stats {
        let ev = rt.stats_event(&a.id)?;
        writeln!(stdout.lock(), "{}", serde_json::to_string(&ev)?)?;
        return Ok(0);
    }
    rt.events(&a.id, interval, |ev| {
        let line = serde_json::to_string(ev).map_err(std::io::Error::other)?;
        let mut out = stdout.lock();
        writeln!(out, "{line}")?;
        out.flush()
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() -> anyhow::Result<()> {
        assert_eq!(parse_duration("5s")?, Duration::from_secs(5));
        assert_eq!(parse_duration("100ms")?, Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s")?, Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h")?, Duration::from_secs(5400));
        assert_eq!(parse_duration("0")?, Duration::ZERO);
        for bad in ["", "5", "s", "5x", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("-1s").is_err());
        Ok(())
    }
}
