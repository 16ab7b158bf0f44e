//! `stop`, `restart`, `kill`, `rm`, `wait`, `pause`, `unpause`, `rename`.

use bollard_stubs::models::ContainerWaitResponse;
use clap::Args;

use super::filters::Filters;
use super::output::units;
use super::system::{confirm, report_prune};
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
    let q: Vec<(&str, String)> = Filters::parse(&a.filter)?.query().into_iter().collect();
    let r: serde_json::Value = cx.client.post_json("/containers/prune", &q, NO_BODY)?;
    let reclaimed = report_prune("Deleted Containers", &r, "ContainersDeleted");
    println!(
        "Total reclaimed space: {}",
        units::human_size4(reclaimed as f64)
    );
    Ok(0)
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

impl UpdateArgs {
    /// The `/containers/{id}/update` body: only the fields given.
    pub fn body(&self) -> anyhow::Result<serde_json::Value> {
        let size = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
            match v.as_deref() {
                None => Ok(None),
                Some("-1") if flag == "--memory-swap" => Ok(Some(-1)),
                Some(s) => units::ram_in_bytes(s).map(Some).ok_or_else(|| {
                    anyhow::anyhow!("invalid argument {s:?} for \"{flag}\" flag: invalid size")
                }),
            }
        };
        let mut b = serde_json::Map::new();
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                b.insert(k.to_owned(), v);
            }
        };
        put("Memory", size("--memory", &self.memory)?.map(Into::into));
        put(
            "MemorySwap",
            size("--memory-swap", &self.memory_swap)?.map(Into::into),
        );
        put(
            "MemoryReservation",
            size("--memory-reservation", &self.memory_reservation)?.map(Into::into),
        );
        put("NanoCpus", self.cpus.map(|c| ((c * 1e9) as i64).into()));
        put("CpuShares", self.cpu_shares.map(Into::into));
        put("CpusetCpus", self.cpuset_cpus.clone().map(Into::into));
        put("PidsLimit", self.pids_limit.map(Into::into));
        if let Some(r) = &self.restart {
            put(
                "RestartPolicy",
                Some(serde_json::to_value(
                    super::container_flags::parse_restart(r)?,
                )?),
            );
        }
        if b.is_empty() {
            anyhow::bail!("you must provide one or more flags when using this command");
        }
        Ok(serde_json::Value::Object(b))
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
        let b = t.u.body().unwrap();
        assert_eq!(
            b,
            serde_json::json!({"Memory": 32 << 20, "PidsLimit": -1, "RestartPolicy": {"Name": "always"}})
        );
        let t = T::try_parse_from(["update", "c1"]).unwrap();
        assert!(t.u.body().is_err());
    }
}
