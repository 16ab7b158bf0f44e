//! Healthchecks: the container's `Healthcheck` (from `--health-*` or the
//! image's HEALTHCHECK, merged at create) is probed by an exec in the
//! container, as dockerd does: `starting` until the first success,
//! `unhealthy` after `Retries` failures in a row (failures inside the
//! start period do not count), the last 5 results kept in
//! `State.Health.Log`, a `health_status: ...` event at each change.

use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::{
    ExecConfig, Health, HealthConfig, HealthStatusEnum, HealthcheckResult,
};
use tokio::io::AsyncReadExt;

use super::Entry;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::Engine;

/// dockerd's defaults and limits.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
const MAX_LOG_ENTRIES: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// A healthcheck with the defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub cmd: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn nanos(v: Option<i64>, default: Duration) -> Duration {
    match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Probe {
    /// The probe a config asks for; None without one or with `NONE`.
    pub fn of(h: Option<&HealthConfig>) -> Option<Probe> {
        let h = h?;
        let test = h.test.as_deref().unwrap_or(&[]);
        let cmd = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => {
                vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]
            }
            _ => return None,
        };
        if cmd.is_empty() {
            return None;
        }
        Some(Probe {
            cmd,
            interval: nanos(h.interval, DEFAULT_INTERVAL),
            timeout: nanos(h.timeout, DEFAULT_TIMEOUT),
            start_period: nanos(h.start_period, Duration::ZERO),
            start_interval: nanos(h.start_interval, DEFAULT_START_INTERVAL),
            retries: h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        })
    }
}

/// The request's healthcheck over the image's: an empty test inherits
/// the image's, zero durations inherit the image's values.
pub fn merge(own: Option<HealthConfig>, image: Option<HealthConfig>) -> Option<HealthConfig> {
    let Some(image) = image else { return own };
    let Some(mut own) = own else {
        return Some(image);
    };
    if own.test.as_ref().is_none_or(|t| t.is_empty()) {
        own.test = image.test.clone();
    }
    let pick = |a: Option<i64>, b: Option<i64>| a.filter(|v| *v > 0).or(b);
    own.interval = pick(own.interval, image.interval);
    own.timeout = pick(own.timeout, image.timeout);
    own.start_period = pick(own.start_period, image.start_period);
    own.start_interval = pick(own.start_interval, image.start_interval);
    own.retries = pick(own.retries, image.retries);
    Some(own)
}

/// Checks `--health-*` values as dockerd does (400 on bad ones).
pub fn check(h: Option<&HealthConfig>) -> Result<()> {
    let Some(h) = h else { return Ok(()) };
    let min = Duration::from_millis(1).as_nanos() as i64;
    for (name, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if let Some(v) = v.filter(|v| *v != 0) {
            if v < min {
                return Err(EngineError::Invalid(format!(
                    "{name} in Healthcheck cannot be less than 1ms"
                )));
            }
        }
    }
    if h.retries.is_some_and(|r| r < 0) {
        return Err(EngineError::Invalid(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    Ok(())
}

/// The output of an attach stream in stdcopy frames, as text.
fn unframe(mut b: &[u8]) -> String {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + n).min(b.len());
        out.extend_from_slice(&b[8..end]);
        b = &b[end..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Health after one probe result.
fn next_health(
    prev: &Health,
    result: HealthcheckResult,
    in_start_period: bool,
    retries: i64,
) -> Health {
    let mut h = prev.clone();
    let ok = result.exit_code == Some(0);
    let mut log = h.log.take().unwrap_or_default();
    log.push(result);
    if log.len() > MAX_LOG_ENTRIES {
        log.drain(..log.len() - MAX_LOG_ENTRIES);
    }
    h.log = Some(log);
    if ok {
        h.failing_streak = Some(0);
        h.status = Some(HealthStatusEnum::HEALTHY);
    } else if !in_start_period || h.status != Some(HealthStatusEnum::STARTING) {
        let streak = h.failing_streak.unwrap_or(0) + 1;
        h.failing_streak = Some(streak);
        if streak >= retries {
            h.status = Some(HealthStatusEnum::UNHEALTHY);
        }
    }
    h
}

pub fn status_word(h: &Health) -> &'static str {
    match h.status {
        Some(HealthStatusEnum::HEALTHY) => "healthy",
        Some(HealthStatusEnum::UNHEALTHY) => "unhealthy",
        Some(HealthStatusEnum::STARTING) => "starting",
        _ => "none",
    }
}

impl Engine {
    /// Starts the healthcheck loop of a running container (if it has
    /// one). The loop ends when the container's run ends.
    pub(crate) fn start_health(&self, entry: &Arc<Entry>) {
        let rec = entry.record();
        let Some(probe) = Probe::of(rec.config.healthcheck.as_ref()) else {
            return;
        };
        let run = entry.notice.borrow().exits;
        if self
            .update(entry, |r| {
                r.state.health = Some(Health {
                    status: Some(HealthStatusEnum::STARTING),
                    failing_streak: Some(0),
                    log: Some(Vec::new()),
                })
            })
            .is_err()
        {
            return;
        }
        let engine = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut notice = entry.notice.subscribe();
            loop {
                let in_start = started.elapsed() < probe.start_period;
                let starting = entry.record().state.health.as_ref().map(|h| h.status)
                    == Some(Some(HealthStatusEnum::STARTING));
                let wait = if in_start && starting {
                    probe.start_interval
                } else {
                    probe.interval
                };
                let ended = async {
                    loop {
                        {
                            let n = notice.borrow_and_update();
                            if n.exits != run || !n.running || n.removed {
                                return;
                            }
                        }
                        if notice.changed().await.is_err() {
                            return;
                        }
                    }
                };
                tokio::select! {
                    _ = ended => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                let rec = entry.record();
                if rec.state.status == super::record::Status::Paused {
                    continue;
                }
                if rec.state.status != super::record::Status::Running {
                    return;
                }
                let result = engine.probe_once(&rec.id, &probe).await;
                let in_start = started.elapsed() < probe.start_period;
                let mut changed = None;
                let updated = engine.update(&entry, |r| {
                    let prev = r.state.health.clone().unwrap_or_default();
                    let next = next_health(&prev, result, in_start, probe.retries);
                    if next.status != prev.status {
                        changed = Some(status_word(&next));
                    }
                    r.state.health = Some(next);
                });
                if updated.is_err() {
                    return;
                }
                if let Some(word) = changed {
                    engine.inner.events.publish(
                        Event::new("container", &format!("health_status: {word}"), &rec.id)
                            .attr("name", rec.name.clone())
                            .attr("image", rec.image.clone()),
                    );
                }
            }
        });
    }

    /// One probe: an exec of the test command with its output captured,
    /// killed at the timeout.
    async fn probe_once(&self, cid: &str, probe: &Probe) -> HealthcheckResult {
        let start = berth_runtime::state::time::now_rfc3339();
        let result = |code: i64, output: String| HealthcheckResult {
            start: Some(start.clone()),
            end: Some(berth_runtime::state::time::now_rfc3339()),
            exit_code: Some(code),
            output: Some(output),
        };
        let cfg = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(probe.cmd.clone()),
            ..Default::default()
        };
        let id = match self.exec_create(cid, cfg) {
            Ok(id) => id,
            Err(e) => return result(-1, e.to_string()),
        };
        let outcome = async {
            let (conn, launch) = self.exec_start(&id, false).await?;
            if let Some(l) = launch {
                l.run().await?;
            }
            let mut buf = Vec::new();
            if let Some(mut c) = conn {
                // Keep at most a little over MAX_OUTPUT; the rest is read
                // and dropped so the process never blocks on its stdout.
                let mut chunk = [0u8; 4096];
                loop {
                    match c.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if buf.len() < MAX_OUTPUT + 64 => buf.extend_from_slice(&chunk[..n]),
                        Ok(_) => {}
                    }
                }
            }
            // The stream ends as the monitor records the exit.
            for _ in 0..100 {
                let x = self.exec_inspect(&id)?;
                if x.running != Some(true) {
                    return Ok::<_, EngineError>((x.exit_code.unwrap_or(-1), unframe(&buf)));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok((-1, unframe(&buf)))
        };
        let r = match tokio::time::timeout(probe.timeout, outcome).await {
            Ok(Ok((code, mut out))) => {
                if out.len() > MAX_OUTPUT {
                    let mut cut = MAX_OUTPUT;
                    while !out.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    out.truncate(cut);
                }
                result(code, out)
            }
            Ok(Err(e)) => result(-1, e.to_string()),
            Err(_) => {
                self.exec_kill(&id);
                result(
                    -1,
                    format!(
                        "Health check exceeded timeout ({})",
                        humantime(probe.timeout)
                    ),
                )
            }
        };
        self.exec_forget(&id);
        r
    }
}

/// Go's time.Duration string for whole or fractional seconds.
fn humantime(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: Some(code),
            ..Default::default()
        }
    }

    #[test]
    fn probes_read_docker_tests() {
        let h = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "test -f /ok".into()]),
            interval: Some(2_000_000_000),
            ..Default::default()
        };
        let p = Probe::of(Some(&h)).expect("probe");
        assert_eq!(p.cmd, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(p.interval, Duration::from_secs(2));
        assert_eq!((p.timeout, p.retries), (DEFAULT_TIMEOUT, 3));
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        assert_eq!(Probe::of(Some(&none)), None);
        assert_eq!(Probe::of(None), None);
    }

    #[test]
    fn retries_failures_make_unhealthy_and_one_success_heals() {
        let mut h = Health {
            status: Some(HealthStatusEnum::STARTING),
            failing_streak: Some(0),
            log: None,
        };
        h = next_health(&h, res(1), false, 2);
        assert_eq!(status_word(&h), "starting");
        h = next_health(&h, res(1), false, 2);
        assert_eq!((status_word(&h), h.failing_streak), ("unhealthy", Some(2)));
        for _ in 0..6 {
            h = next_health(&h, res(1), false, 2);
        }
        assert_eq!(h.log.as_ref().map(Vec::len), Some(MAX_LOG_ENTRIES));
        h = next_health(&h, res(0), false, 2);
        assert_eq!((status_word(&h), h.failing_streak), ("healthy", Some(0)));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let h = Health {
            status: Some(HealthStatusEnum::STARTING),
            failing_streak: Some(0),
            log: None,
        };
        let h = next_health(&h, res(1), true, 1);
        assert_eq!((status_word(&h), h.failing_streak), ("starting", Some(0)));
    }

    #[test]
    fn the_image_healthcheck_fills_what_the_request_leaves() {
        let image = HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            interval: Some(5),
            retries: Some(7),
            ..Default::default()
        };
        let own = HealthConfig {
            interval: Some(9),
            ..Default::default()
        };
        let m = merge(Some(own), Some(image.clone())).expect("merged");
        assert_eq!(m.test, image.test);
        assert_eq!((m.interval, m.retries), (Some(9), Some(7)));
        assert_eq!(merge(None, Some(image.clone())), Some(image));
    }

    #[test]
    fn frames_are_joined() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 3];
        b.extend_from_slice(b"ab\n");
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(b"c\n");
        assert_eq!(unframe(&b), "ab\nc\n");
    }
}
