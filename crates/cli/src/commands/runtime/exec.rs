//! `exec [--tty] [--env K=V] [--cwd D] [--user U[:G]] [--process F]
//! [--detach] [--pid-file F] [--console-socket S] ID [COMMAND...]`

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

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
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
    };
    let out = rt.exec(&opts)?;
    super::warn_all(&out.warnings);
    Ok(out.exit_code.unwrap_or(0))
}
