//! `berth runtime <verb>` and `berth-runc <verb>`: runc's command line over
//! berth-runtime. One file per verb; each only translates flags into a
//! library call and prints the result.

mod cgroups;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod plain_args;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use berth_runtime::Runtime;
use clap::{Parser, Subcommand, ValueEnum};

/// Where container state lives unless `--root` says otherwise.
const DEFAULT_ROOT: &str = "/run/berth/runtime";

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// runc-compatible OCI runtime.
#[derive(Debug, Parser)]
#[command(
    name = "berth-runc",
    version,
    about = "berth's OCI runtime (runc's command line)"
)]
pub struct Cli {
    /// Directory holding container state.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// File to write logs (and errors) to, besides stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode (runc's global flag; only "false" and "auto" accepted).
    #[arg(long)]
    rootless: Option<String>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    Create(create::Args),
    Start(start::Args),
    State(state::Args),
    Kill(kill::Args),
    Delete(delete::Args),
    Run(run::Args),
    #[command(alias = "ls")]
    List(list::Args),
    Ps(ps::Args),
    Exec(exec::Args),
    Pause(pause::Args),
    Resume(resume::Args),
    Events(events::Args),
    Features(features::Args),
    Spec(spec::Args),
    /// The container's cgroups and their limits and usage.
    Cgroups(cgroups::Args),
    /// Update a container's resource limits.
    Update(update::Args),
}

/// Where warnings and errors go: stderr, and the `--log` file in runc's
/// formats (logrus text, or JSON lines `{"level","msg","time"}`, which is
/// what containerd reads back to report a runtime failure).
struct Log {
    file: Option<std::sync::Mutex<std::fs::File>>,
    format: LogFormat,
    debug: bool,
}

static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();

fn open_log(cli: &Cli) -> anyhow::Result<()> {
    let file = match &cli.log {
        Some(path) => Some(std::sync::Mutex::new(
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
        format: cli.log_format,
        debug: cli.debug,
    });
    Ok(())
}

/// Writes one log line at `level` ("error", "warning", "debug").
pub(crate) fn log(level: &str, msg: &str) {
    let Some(log) = LOG.get() else {
        eprintln!("berth-runc: {level}: {msg}");
        return;
    };
    if level == "debug" && !log.debug {
        return;
    }
    let time = berth_runtime::state::time::now_rfc3339();
    if let Some(f) = &log.file {
        let line = match log.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
        };
        if let Ok(mut f) = f.lock() {
            let _ = std::io::Write::write_all(&mut *f, format!("{line}\n").as_bytes());
        }
    }
    if level != "error" {
        eprintln!("berth-runc: {level}: {msg}");
    }
}

/// Prints library warnings through the log.
pub(crate) fn warn_all(warnings: &[String]) {
    for w in warnings {
        log("warning", w);
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup is not supported: berth manages cgroups through cgroupfs only");
    }
    if let Some(r) = &cli.rootless {
        if r != "false" && r != "auto" {
            bail!("--rootless={r} is not supported: berth runs containers as root only");
        }
    }
    let rt = Runtime::new(&cli.root);
    match cli.verb {
        Verb::Create(a) => create::run(&rt, a),
        Verb::Start(a) => start::run(&rt, a),
        Verb::State(a) => state::run(&rt, a),
        Verb::Kill(a) => kill::run(&rt, a),
        Verb::Delete(a) => delete::run(&rt, a),
        Verb::Run(a) => run::run(&rt, a),
        Verb::List(a) => list::run(&rt, a),
        Verb::Ps(a) => ps::run(&rt, a),
        Verb::Exec(a) => exec::run(&rt, a),
        Verb::Pause(a) => pause::run(&rt, a),
        Verb::Resume(a) => resume::run(&rt, a),
        Verb::Events(a) => events::run(&rt, a),
        Verb::Features(a) => features::run(a),
        Verb::Spec(a) => spec::run(a),
        Verb::Cgroups(a) => cgroups::run(&rt, a),
        Verb::Update(a) => update::run(&rt, a),
    }
}

/// Entry point: `args` starts with the program name (`berth-runc`, or
/// `runtime` when called as `berth runtime ...`). Returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let parsed = match plain_args::parse(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if let Err(e) = open_log(&cli) {
        eprintln!("berth-runc: {e:#}");
        return 1;
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            report_error(&format!("{e:#}"));
            1
        }
    }
}

/// A failure: to the log, and one line on stderr.
pub(crate) fn report_error(msg: &str) {
    log("error", msg);
    eprintln!("berth-runc: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn parser_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_containerd_style_invocations() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from([
            "berth-runc",
            "--root",
            "/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ])?;
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(matches!(cli.verb, Verb::Create(ref a) if a.id == "c1"));
        let cli = Cli::try_parse_from([
            "runtime",
            "exec",
            "-e",
            "A=1",
            "c1",
            "sh",
            "-c",
            "echo -n x",
        ])?;
        match cli.verb {
            Verb::Exec(a) => assert_eq!(a.command, ["sh", "-c", "echo -n x"]),
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["runtime", "kill", "c1", "KILL"])?;
        assert!(matches!(cli.verb, Verb::Kill(ref a) if a.signal == "KILL"));
        Ok(())
    }
}
