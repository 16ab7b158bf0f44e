//! `berth runtime <verb>` and `berth-runc <verb>`: runc's command line over
//! berth-runtime. One file per verb; each only translates flags into a
//! library call and prints the result.

mod cgroups;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod logging;
mod pause;
mod plain_args;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod unknown;
mod update;
mod version;

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use berth_runtime::Runtime;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

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
    about = "berth's OCI runtime (runc's command line)",
    after_help = "-v, --version prints the version lines (as runc's)"
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
    /// Obsolete in runc (criu from $PATH is used); accepted and ignored.
    #[arg(long, hide = true)]
    criu: Option<String>,
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
    /// Checkpoint a running container (needs CRIU: refused).
    Checkpoint(checkpoint::Args),
    /// Restore a container from a checkpoint (needs CRIU: refused).
    Restore(checkpoint::Args),
}

pub(crate) use logging::{log, report_error, warn_all};

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
        Verb::Checkpoint(a) => checkpoint::run(&rt, "checkpoint", a),
        Verb::Restore(a) => checkpoint::run(&rt, "restore", a),
    }
}

/// Entry point: `args` starts with the program name (`berth-runc`, or
/// `runtime` when called as `berth runtime ...`). Returns the exit code,
/// runc's for usage: 0 for help and version (and no arguments at all,
/// which prints the help), 3 for an unknown command, 1 for other usage
/// errors.
pub fn main(args: Vec<OsString>) -> i32 {
    let parsed = match plain_args::parse(&args) {
        Some(cli) => Ok(cli),
        None => {
            if args.len() <= 1 {
                let _ = Cli::command().print_help();
                return 0;
            }
            if version::asked(&args) {
                version::print();
                return 0;
            }
            Cli::try_parse_from(&args)
        }
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => return unknown::usage_error(&e),
    };
    if let Err(e) = logging::open(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("berth-runc: {e:#}");
        return 1;
    }
    if cli.debug {
        log("debug", &format!("command line: {args:?}"));
    }
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            report_error(&format!("{e:#}"));
            1
        }
    };
    log("debug", &format!("exit status {code}"));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

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
