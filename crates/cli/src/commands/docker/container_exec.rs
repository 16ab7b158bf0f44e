//! `exec`: create an exec instance, start it attached (hijacked) or
//! detached, and exit with its exit code from exec inspect.

use anyhow::Context;
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ExecStartConfig, IdResponse};
use clap::{ArgAction, Args};

use super::container_flags::{env_entry, file_lines};
use super::{signals, Ctx, StatusError};
use crate::client::{hijack, http::Body, tty, NO_BODY};

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct ExecArgs {
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// CONTAINER COMMAND [ARG...]: one list, so flag parsing stops at the
    /// container name as docker's does
    #[arg(value_name = "CONTAINER COMMAND [ARG...]", required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

impl ExecArgs {
    fn config(&self) -> anyhow::Result<ExecConfig> {
        if self.args[0].starts_with('-') {
            anyhow::bail!("unknown flag: {}", self.args[0]);
        }
        let lookup = |k: &str| std::env::var(k).ok();
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(file_lines(f)?.iter().filter_map(|l| env_entry(l, lookup)));
        }
        env.extend(self.env.iter().filter_map(|e| env_entry(e, lookup)));
        let attached = !self.detach;
        Ok(ExecConfig {
            attach_stdin: Some(attached && self.interactive),
            attach_stdout: Some(attached),
            attach_stderr: Some(attached),
            tty: Some(self.tty),
            env: (!env.is_empty()).then_some(env),
            cmd: Some(self.args[1..].to_vec()),
            user: self.user.clone(),
            working_dir: self.workdir.clone(),
            privileged: Some(self.privileged),
            detach_keys: self.detach_keys.clone(),
            console_size: if self.tty {
                tty::window_size().map(|(h, w)| vec![h as usize, w as usize])
            } else {
                None
            },
        })
    }
}

pub fn exec(cx: &Ctx, a: ExecArgs) -> anyhow::Result<i32> {
    if a.tty
        && a.interactive
        && !a.detach
        && !tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdin()))
    {
        return Err(StatusError::exit(1, "the input device is not a TTY"));
    }
    let created: IdResponse = cx.client.post_json(
        &format!("/containers/{}/exec", a.args[0]),
        &[],
        Some(&a.config()?),
    )?;
    let id = created.id;
    let start = ExecStartConfig {
        detach: Some(a.detach),
        tty: Some(a.tty),
        ..Default::default()
    };
    if a.detach {
        cx.client
            .post(&format!("/exec/{id}/start"), &[], Some(&start))?;
        return Ok(0);
    }
    let body = Body::Bytes(serde_json::to_vec(&start)?, "application/json");
    let resp = cx.client.hijack(&format!("/exec/{id}/start"), &[], body)?;
    let raw = if a.tty && a.interactive {
        tty::RawMode::enable().context("setting the terminal to raw mode")?
    } else {
        None
    };
    if a.tty {
        if let Some((h, w)) = tty::window_size() {
            let _ = cx.client.post(
                &format!("/exec/{id}/resize"),
                &[("h", h.to_string()), ("w", w.to_string())],
                NO_BODY,
            );
        }
    }
    if a.tty {
        signals::start(&cx.client, signals::Target::Exec(id.clone()), false, true)
            .context("watching the terminal size")?;
    }
    let input = a
        .interactive
        .then(|| Box::new(std::io::stdin()) as Box<dyn std::io::Read + Send>);
    let pumped = hijack::pump(resp, a.tty, input);
    drop(raw);
    pumped.context("copying the exec streams")?;
    let inspect: ExecInspectResponse = cx.client.get_json(&format!("/exec/{id}/json"), &[])?;
    Ok(inspect.exit_code.unwrap_or(0) as i32)
}
