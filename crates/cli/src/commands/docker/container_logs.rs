//! `logs`: the container's log stream, demultiplexed unless it has a tty.

use clap::Args;
use serde_json::Value;

use super::output::units;
use super::Ctx;
use crate::client::{http::Body, stdcopy};

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    until: Option<String>,
    container: String,
}

pub fn logs(cx: &Ctx, a: LogsArgs) -> anyhow::Result<i32> {
    let c: Value = cx
        .client
        .get_json(&format!("/containers/{}/json", a.container), &[])?;
    let tty = c
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut q: Vec<(&str, String)> = vec![
        ("stdout", "1".into()),
        ("stderr", "1".into()),
        ("tail", a.tail.clone()),
    ];
    for (flag, on) in [
        ("follow", a.follow),
        ("timestamps", a.timestamps),
        ("details", a.details),
    ] {
        if on {
            q.push((flag, "1".into()));
        }
    }
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let ts = units::api_timestamp(v).ok_or_else(|| {
                anyhow::anyhow!(
                    "invalid value for \"{k}\": failed to parse value as time or duration: {v:?}"
                )
            })?;
            q.push((k, ts));
        }
    }
    let resp = cx.client.request(
        "GET",
        &format!("/containers/{}/logs", a.container),
        &q,
        Body::Empty,
    )?;
    let mut body = resp.body;
    if tty {
        std::io::copy(&mut body, &mut std::io::stdout().lock())?;
    } else {
        stdcopy::demux(
            body,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )?;
    }
    Ok(0)
}
