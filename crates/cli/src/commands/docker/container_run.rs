//! `create`, `run` and `start`: create (pulling a missing image), attach
//! before start, wait for the exit, and exit with the container's code.

use std::io::Read;

use anyhow::Context;
use bollard_stubs::models::{ContainerCreateResponse, ContainerWaitResponse};
use clap::Args;
use serde_json::Value;

use super::container_create::RunArgs;
use super::{image, signals, Ctx, StatusError};
use crate::client::{hijack, http::Body, tty, ClientError, NO_BODY};

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Create the container, pulling its image once if the daemon lacks it
/// (`--pull missing`, docker's default) or first (`--pull always`).
fn create_container(cx: &Ctx, a: &RunArgs) -> anyhow::Result<String> {
    let body = a.body()?;
    // docker refuses an existing cidfile before creating anything.
    let cidfile = match &a.cidfile {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .with_context(|| format!("container ID file found, make sure the other container isn't running or delete {p}"))?,
        ),
        None => None,
    };
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(n) = &a.name {
        q.push(("name", n.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    match a.pull.as_str() {
        "always" => image::pull_image(cx, a.image(), a.platform.as_deref(), a.quiet, true)?,
        "missing" | "never" => {}
        other => anyhow::bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
    let resp: Result<ContainerCreateResponse, ClientError> =
        cx.client.post_json("/containers/create", &q, Some(&body));
    let resp = match resp {
        Err(e) if e.is_not_found() && a.pull == "missing" => {
            eprintln!("Unable to find image '{}' locally", a.image());
            image::pull_image(cx, a.image(), a.platform.as_deref(), a.quiet, true)?;
            cx.client.post_json("/containers/create", &q, Some(&body))?
        }
        other => other?,
    };
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(mut f) = cidfile {
        std::io::Write::write_all(&mut f, resp.id.as_bytes())
            .context("writing the container ID file")?;
    }
    Ok(resp.id)
}

pub fn create(cx: &Ctx, a: RunArgs) -> anyhow::Result<i32> {
    let id = create_container(cx, &a)?;
    println!("{id}");
    Ok(0)
}

/// docker's exit code for a start failure: 127 command not found, 126 not
/// executable, else 125.
pub fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Streams to attach and how.
pub struct Attach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub detach_keys: Option<String>,
    /// Forward signals to the container (`--sig-proxy`, non-tty only).
    pub sig_proxy: bool,
}

/// Attach (if any stream), register a wait, start, copy the streams until
/// the container closes them, and return its exit code.
fn attach_start_wait(
    cx: &Ctx,
    id: &str,
    at: &Attach,
    condition: &str,
    auto_remove: bool,
) -> anyhow::Result<i32> {
    let attached = if at.stdin || at.stdout || at.stderr {
        let mut q: Vec<(&str, String)> = vec![("stream", "1".into())];
        for (k, on) in [
            ("stdin", at.stdin),
            ("stdout", at.stdout),
            ("stderr", at.stderr),
        ] {
            if on {
                q.push((k, "1".into()));
            }
        }
        if let Some(k) = &at.detach_keys {
            q.push(("detachKeys", k.clone()));
        }
        Some(
            cx.client
                .hijack(&format!("/containers/{id}/attach"), &q, Body::Empty)?,
        )
    } else {
        None
    };
    // Blocked before the wait thread starts, so no thread takes them.
    if attached.is_some() {
        signals::start(
            &cx.client,
            signals::Target::Container(id.to_owned()),
            at.sig_proxy,
            at.tty,
        )
        .context("setting up signal forwarding")?;
    }
    // The wait is registered before start so a fast exit is not missed; its
    // answer arrives when the container exits.
    let waiter = {
        let path = format!("/containers/{id}/wait");
        let resp = cx.client.request(
            "POST",
            &path,
            &[("condition", condition.to_owned())],
            Body::Empty,
        )?;
        std::thread::spawn(move || -> anyhow::Result<ContainerWaitResponse> {
            let body = resp.read_all()?;
            Ok(serde_json::from_slice(&body)?)
        })
    };
    let raw = if at.tty && at.stdin {
        tty::RawMode::enable().context("setting the terminal to raw mode")?
    } else {
        None
    };
    if let Err(e) = cx
        .client
        .post(&format!("/containers/{id}/start"), &[], NO_BODY)
    {
        drop(raw);
        let msg = e.to_string();
        if auto_remove {
            let _ = cx
                .client
                .delete(&format!("/containers/{id}"), &[("force", "1".into())]);
        }
        return Err(StatusError::exit(start_failure_code(&msg), msg));
    }
    if at.tty {
        if let Some((h, w)) = tty::window_size() {
            let _ = cx.client.post(
                &format!("/containers/{id}/resize"),
                &[("h", h.to_string()), ("w", w.to_string())],
                NO_BODY,
            );
        }
    }
    if let Some(resp) = attached {
        let input: Option<Box<dyn Read + Send>> = at
            .stdin
            .then(|| Box::new(std::io::stdin()) as Box<dyn Read + Send>);
        let pumped = hijack::pump(resp, at.tty, input);
        drop(raw);
        pumped.context("copying the container's streams")?;
    }
    let answer = waiter
        .join()
        .map_err(|_| anyhow::anyhow!("the wait thread panicked"))??;
    if let Some(err) = answer
        .error
        .and_then(|e| e.message)
        .filter(|m| !m.is_empty())
    {
        return Err(StatusError::exit(125, err));
    }
    Ok(answer.status_code as i32)
}

pub fn run(cx: &Ctx, a: RunArgs) -> anyhow::Result<i32> {
    let (stdin, stdout, stderr) = a.streams()?;
    if a.tty && stdin && !tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdin())) {
        return Err(StatusError::exit(1, "the input device is not a TTY"));
    }
    let id = create_container(cx, &a)?;
    if a.detach {
        if let Err(e) = cx
            .client
            .post(&format!("/containers/{id}/start"), &[], NO_BODY)
        {
            let msg = e.to_string();
            return Err(StatusError::exit(start_failure_code(&msg), msg));
        }
        println!("{id}");
        return Ok(0);
    }
    let at = Attach {
        stdin,
        stdout,
        stderr,
        tty: a.tty,
        detach_keys: a.detach_keys.clone(),
        sig_proxy: a.sig_proxy,
    };
    let condition = if a.rm { "removed" } else { "next-exit" };
    attach_start_wait(cx, &id, &at, condition, a.rm)
}

pub fn start(cx: &Ctx, a: StartArgs) -> anyhow::Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        }
        let name = &a.containers[0];
        let c: Value = cx
            .client
            .get_json(&format!("/containers/{name}/json"), &[])?;
        let id = c
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        let cfg = c.get("Config");
        let flag = |k: &str| {
            cfg.and_then(|c| c.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let at = Attach {
            stdin: a.interactive && flag("OpenStdin"),
            stdout: a.attach,
            stderr: a.attach,
            tty: flag("Tty"),
            detach_keys: a.detach_keys.clone(),
            sig_proxy: true,
        };
        let auto_remove = c
            .pointer("/HostConfig/AutoRemove")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let condition = if auto_remove { "removed" } else { "next-exit" };
        return attach_start_wait(cx, &id, &at, condition, false);
    }
    super::for_each_name(&a.containers, |n| {
        cx.client
            .post(&format!("/containers/{n}/start"), &[], NO_BODY)?;
        println!("{n}");
        Ok(())
    })
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    container: String,
}

/// `attach`: join a running container's streams; exit with its code if it
/// ends, 0 if the user detached.
pub fn attach(cx: &Ctx, a: AttachArgs) -> anyhow::Result<i32> {
    let c: Value = cx
        .client
        .get_json(&format!("/containers/{}/json", a.container), &[])?;
    let id = c
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_owned();
    if c.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
        return Err(StatusError::exit(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if c.pointer("/State/Paused").and_then(Value::as_bool) == Some(true) {
        return Err(StatusError::exit(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let flag = |k: &str| {
        c.pointer(&format!("/Config/{k}"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let tty = flag("Tty");
    let stdin = !a.no_stdin && flag("OpenStdin");
    let mut q: Vec<(&str, String)> = vec![
        ("stream", "1".into()),
        ("stdout", "1".into()),
        ("stderr", "1".into()),
    ];
    if stdin {
        q.push(("stdin", "1".into()));
    }
    if let Some(k) = &a.detach_keys {
        q.push(("detachKeys", k.clone()));
    }
    let resp = cx
        .client
        .hijack(&format!("/containers/{id}/attach"), &q, Body::Empty)?;
    signals::start(
        &cx.client,
        signals::Target::Container(id.clone()),
        a.sig_proxy,
        tty,
    )
    .context("setting up signal forwarding")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let wait = cx.client.request(
        "POST",
        &format!("/containers/{id}/wait"),
        &[("condition", "next-exit".into())],
        Body::Empty,
    )?;
    std::thread::spawn(move || {
        let code = wait
            .read_all()
            .ok()
            .and_then(|b| serde_json::from_slice::<ContainerWaitResponse>(&b).ok())
            .map(|w| w.status_code as i32);
        let _ = tx.send(code);
    });
    let raw = if tty && stdin {
        tty::RawMode::enable().context("setting the terminal to raw mode")?
    } else {
        None
    };
    let input: Option<Box<dyn Read + Send>> =
        stdin.then(|| Box::new(std::io::stdin()) as Box<dyn Read + Send>);
    let pumped = hijack::pump(resp, tty, input);
    drop(raw);
    pumped.context("copying the container's streams")?;
    // The streams end when the container exits (its code follows at once)
    // or when the user detached (no exit comes).
    match rx.recv_timeout(std::time::Duration::from_secs(2)) {
        Ok(Some(code)) => Ok(code),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_failure_code("exec /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("cannot allocate memory"), 125);
        // docker's test order: only its two "not found" wordings mean 127.
        assert_eq!(
            start_failure_code(
                "executable \"/etc/passwd\" not found in the container: permission denied"
            ),
            126
        );
    }
}
