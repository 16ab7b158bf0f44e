//! The runtime role's logs in runc's shapes (logrus): text lines
//! `time="…" level=debug msg="…"` or JSON lines `{"level","msg","time"}`
//! (what containerd reads back from `--log` to report a failure). As in
//! runc they go to the `--log` file when one is given, else to stderr;
//! `--debug` adds debug lines. Errors also get one plain line on stderr,
//! which is what a person (or a test) reads.
//!
//! The library's `tracing` events come through the same path.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;

use super::LogFormat;

struct Log {
    file: Option<Mutex<File>>,
    format: LogFormat,
    debug: bool,
}

static LOG: OnceLock<Log> = OnceLock::new();

/// Opens `--log` (append, as runc) and installs the logger.
pub(crate) fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> anyhow::Result<()> {
    let file = match path {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("opening log file {}: {e}", path.display()))?,
        )),
        None => None,
    };
    let _ = LOG.set(Log {
        file,
        format,
        debug,
    });
    let max = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::from_level(max))
        .with(Relay);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// One log line in `format`.
fn line(format: LogFormat, level: &str, msg: &str) -> String {
    let time = berth_runtime::state::time::now_rfc3339();
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
    }
}

/// Writes one log line at `level` ("error", "warning", "info", "debug").
pub(crate) fn log(level: &str, msg: &str) {
    let Some(log) = LOG.get() else {
        eprintln!("{}", line(LogFormat::Text, level, msg));
        return;
    };
    if level == "debug" && !log.debug {
        return;
    }
    let text = format!("{}\n", line(log.format, level, msg));
    match &log.file {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(text.as_bytes());
            }
        }
        // Errors get their plain line from report_error instead.
        None if level != "error" => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        None => {}
    }
}

/// Prints library warnings through the log.
pub(crate) fn warn_all(warnings: &[String]) {
    for w in warnings {
        log("warning", w);
    }
}

/// A failure: to the log, and one plain line on stderr.
pub(crate) fn report_error(msg: &str) {
    log("error", msg);
    eprintln!("berth-runc: {msg}");
}

/// Sends `tracing` events to [`log`].
struct Relay;

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Relay {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            _ => "debug",
        };
        log(level, &m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runcs_line_shapes() -> Result<(), serde_json::Error> {
        let t = line(LogFormat::Text, "debug", "a \"b\"");
        assert!(t.starts_with("time=\""), "{t}");
        assert!(t.ends_with(r#" level=debug msg="a \"b\"""#), "{t}");
        let j: serde_json::Value = serde_json::from_str(&line(LogFormat::Json, "debug", "m"))?;
        assert_eq!(
            (j["level"].as_str(), j["msg"].as_str()),
            (Some("debug"), Some("m"))
        );
        assert!(j["time"].is_string());
        Ok(())
    }
}
