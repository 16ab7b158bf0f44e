//! `stop`, `restart`, `kill`, `rm`, `wait`, `pause`, `unpause`, `rename`.

use bollard_stubs::models::{ContainerUpdateBody, ContainerWaitResponse};
use clap::Args;

use super::filters::Filters;
use super::resource_flags::ResourceArgs;
use super::system::{confirm, print_reclaimed, prune_objects, Pruned};
use super::{for_each_name, inspect::inspect_kinds, Ctx};
use crate::client::NO_BODY;

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    /// Signal to send to the container
    #[arg(short = 's', long)]
    signal: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    link: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

/// `stop` and `restart` share their flags; `verb` is the API action.
pub fn stop(cx: &Ctx, a: StopArgs, verb: &str) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    for_each_name(&a.containers, |n| {
        cx.client
            .post(&format!("/containers/{n}/{verb}"), &q, NO_BODY)?;
        println!("{n}");
        Ok(())
    })
}

pub fn kill(cx: &Ctx, a: KillArgs) -> anyhow::Result<i32> {
    let q = [("signal", a.signal.clone())];
    for_each_name(&a.containers, |n| {
        cx.client
            .post(&format!("/containers/{n}/kill"), &q, NO_BODY)?;
        println!("{n}");
        Ok(())
    })
}

pub fn rm(cx: &Ctx, a: RmArgs) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.force {
        q.push(("force", "1".into()));
    }
    if a.volumes {
        q.push(("v", "1".into()));
    }
    if a.link {
        q.push(("link", "1".into()));
    }
    for_each_name(&a.containers, |n| {
        let n = n.trim_matches('/');
        cx.client.delete(&format!("/containers/{n}"), &q)?;
        println!("{n}");
        Ok(())
    })
}

pub fn wait(cx: &Ctx, a: NamesArgs) -> anyhow::Result<i32> {
    for_each_name(&a.containers, |n| {
        let r: ContainerWaitResponse =
            cx.client
                .post_json(&format!("/containers/{n}/wait"), &[], NO_BODY)?;
        println!("{}", r.status_code);
        Ok(())
    })
}

/// Verbs that are one POST with no parameters (`pause`, `unpause`).
pub fn simple(cx: &Ctx, a: NamesArgs, verb: &str) -> anyhow::Result<i32> {
    for_each_name(&a.containers, |n| {
        cx.client
            .post(&format!("/containers/{n}/{verb}"), &[], NO_BODY)?;
        println!("{n}");
        Ok(())
    })
}

pub fn rename(cx: &Ctx, a: RenameArgs) -> anyhow::Result<i32> {
    let new = a.new_name.trim();
    if new.is_empty() {
        anyhow::bail!("Error: neither old nor new names may be empty");
    }
    cx.client.post(
        &format!("/containers/{}/rename", a.container),
        &[("name", new.to_owned())],
        NO_BODY,
    )?;
    Ok(0)
}

#[derive(Args)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn inspect(cx: &Ctx, a: ContainerInspectArgs) -> anyhow::Result<i32> {
    inspect_kinds(
        cx,
        &["container"],
        &a.containers,
        a.format.as_deref(),
        a.size,
    )
}

pub fn prune(cx: &Ctx, a: PruneArgs) -> anyhow::Result<i32> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let reclaimed = prune_objects(cx, Pruned::Containers, &Filters::parse(&a.filter)?)?;
    print_reclaimed(reclaimed);
    Ok(0)
}

#[derive(Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    resources: ResourceArgs,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

impl UpdateArgs {
    /// The `/containers/{id}/update` body: only the fields given.
    pub fn body(&self) -> anyhow::Result<ContainerUpdateBody> {
        let mut b = self.resources.parse()?.into_update();
        b.restart_policy = self
            .restart
            .as_deref()
            .map(super::container_flags::parse_restart)
            .transpose()?;
        if b == ContainerUpdateBody::default() {
            anyhow::bail!("you must provide one or more flags when using this command");
        }
        Ok(b)
    }
}

pub fn update(cx: &Ctx, a: UpdateArgs) -> anyhow::Result<i32> {
    let body = a.body()?;
    for_each_name(&a.containers, |n| {
        let r: serde_json::Value =
            cx.client
                .post_json(&format!("/containers/{n}/update"), &[], Some(&body))?;
        for w in r
            .get("Warnings")
            .and_then(|w| w.as_array())
            .into_iter()
            .flatten()
        {
            eprintln!("{}", w.as_str().unwrap_or(""));
        }
        println!("{n}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        u: UpdateArgs,
    }

    #[test]
    fn update_sends_only_given_fields() {
        let t = T::try_parse_from([
            "update",
            "-m",
            "32m",
            "--pids-limit",
            "-1",
            "--restart",
            "always",
            "c1",
        ])
        .unwrap();
        let b = serde_json::to_value(t.u.body().unwrap()).unwrap();
        assert_eq!(
            b,
            serde_json::json!({"Memory": 32 << 20, "PidsLimit": -1, "RestartPolicy": {"Name": "always"}})
        );
        let t = T::try_parse_from(["update", "c1"]).unwrap();
        assert!(t.u.body().is_err());
    }
}
