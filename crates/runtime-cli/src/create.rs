//! `create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] ID`

use std::path::PathBuf;

use berth_runtime::{CreateOptions, Runtime};

/// Create a container (its process waits for `start`).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    /// Bundle directory (config.json + rootfs).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the init's PID to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Number of extra descriptors (from 3) passed to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility; pivot_root is used when possible.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility; berth creates no session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Container id.
    pub id: String,
}

impl Args {
    pub fn options(&self) -> CreateOptions {
        CreateOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            start_immediately: false,
        }
    }
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let warnings = rt.create(&a.options())?;
    super::warn_all(&warnings);
    Ok(0)
}
