//! `exec [--tty] [--env K=V] [--cwd D] [--user U[:G]] [--process F]
//! [--detach] [--pid-file F] [--console-socket S] [--cap C] [--cgroup P]
//! [--ignore-paused] ID [COMMAND...]`

use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_runtime::{ExecOptions, Runtime};

/// Run a new process in a running container.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Allocate a pty (needs --console-socket).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Environment entries KEY=VALUE.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// UID[:GID].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Extra group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// A process.json giving the whole process.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Run in an existing sub-cgroup: `PATH` (every hierarchy) or
    /// `CONTROLLER[,CONTROLLER...]:PATH` (cgroup v1), repeatable.
    #[arg(long = "cgroup")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container (the process waits for resume).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn parse_user(u: &str) -> anyhow::Result<(u32, Option<u32>)> {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let uid = uid
        .parse()
        .with_context(|| format!("--user {u:?}: uid is not a number"))?;
    let gid = gid
        .map(|g| {
            g.parse()
                .with_context(|| format!("--user {u:?}: gid is not a number"))
        })
        .transpose()?;
    Ok((uid, gid))
}

/// runc's `--cgroup` arguments: one bare path, or controller-prefixed
/// paths with each controller named once.
fn sub_cgroups(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for arg in args {
        match arg.split_once(':') {
            Some((ctrls, path)) => {
                for c in ctrls.split(',') {
                    if c.is_empty() {
                        bail!("invalid --cgroup argument: {arg} (empty <controller> prefix)");
                    }
                    if out.iter().any(|(o, _)| o == c) {
                        bail!(
                            "invalid --cgroup argument(s): controller {c} specified multiple times"
                        );
                    }
                    out.push((c.to_owned(), path.to_owned()));
                }
            }
            None if args.len() == 1 => out.push((String::new(), arg.clone())),
            None => bail!("invalid --cgroup argument: {arg} (missing <controller>: prefix)"),
        }
    }
    Ok(out)
}

/// exec's failures exit 255 with "exec failed: ..." (runc's code, which
/// tells a runtime failure from the process's own exit status).
pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    match exec(rt, a) {
        Ok(code) => Ok(code),
        Err(e) => {
            super::report_error(&format!("exec failed: {e:#}"));
            Ok(255)
        }
    }
}

fn exec(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let process = match &a.process {
        Some(p) => Some(berth_runtime::container::exec::read_process_file(p)?),
        None => None,
    };
    if process.is_none() && a.command.is_empty() {
        bail!("exec: no command given (and no --process)");
    }
    let opts = ExecOptions {
        id: a.id,
        process,
        args: a.command,
        env: a.env,
        cwd: a.cwd,
        user: a.user.as_deref().map(parse_user).transpose()?,
        additional_gids: a.additional_gids,
        tty: a.tty,
        console_socket: a.console_socket,
        pid_file: a.pid_file,
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        no_new_privs: a.no_new_privs,
        caps: a.cap,
        sub_cgroups: sub_cgroups(&a.cgroup)?,
        ignore_paused: a.ignore_paused,
    };
    let out = rt.exec(&opts)?;
    super::warn_all(&out.warnings);
    Ok(out.exit_code.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_arguments_as_runc() -> anyhow::Result<()> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sub_cgroups(&v(&["sub"]))?,
            [("".to_owned(), "sub".to_owned())]
        );
        assert_eq!(
            sub_cgroups(&v(&["cpu,memory:a", "pids:b"]))?,
            [
                ("cpu".to_owned(), "a".to_owned()),
                ("memory".to_owned(), "a".to_owned()),
                ("pids".to_owned(), "b".to_owned())
            ]
        );
        assert!(sub_cgroups(&v(&["a", "b"])).is_err());
        assert!(sub_cgroups(&v(&[":a"])).is_err());
        assert!(sub_cgroups(&v(&["cpu:a", "cpu:b"])).is_err());
        Ok(())
    }
}
