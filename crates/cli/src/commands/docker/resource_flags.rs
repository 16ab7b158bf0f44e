//! The resource flags `run`/`create` and `update` share (memory, CPU,
//! pids), parsed once into the API's fields with docker's messages.

use anyhow::anyhow;
use bollard_stubs::models::{ContainerUpdateBody, HostConfig};
use clap::Args;

use super::output::units;

#[derive(Args, Debug, Default)]
pub struct ResourceArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long, allow_hyphen_values = true)]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
}

/// A size flag (`32m`, `1g`) in bytes.
pub fn size_flag(flag: &str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| {
            units::ram_in_bytes(s)
                .ok_or_else(|| anyhow!("invalid argument {s:?} for \"{flag}\" flag: invalid size"))
        })
        .transpose()
}

/// The flags' values as the API's fields; None where not given.
#[derive(Debug, Default, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub pids_limit: Option<i64>,
}

impl ResourceArgs {
    pub fn parse(&self) -> anyhow::Result<Resources> {
        let memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => size_flag("--memory-swap", &self.memory_swap)?,
        };
        let nano_cpus = self
            .cpus
            .map(|c| {
                if c < 0.0 {
                    Err(anyhow!(
                        "invalid argument \"{c}\" for \"--cpus\" flag: range must be positive"
                    ))
                } else {
                    Ok((c * 1e9) as i64)
                }
            })
            .transpose()?;
        Ok(Resources {
            memory: size_flag("--memory", &self.memory)?,
            memory_swap,
            memory_reservation: size_flag("--memory-reservation", &self.memory_reservation)?,
            nano_cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            pids_limit: self.pids_limit,
        })
    }
}

impl Resources {
    /// `base` with these resources set.
    pub fn into_host_config(self, base: HostConfig) -> HostConfig {
        HostConfig {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            nano_cpus: self.nano_cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            pids_limit: self.pids_limit,
            ..base
        }
    }

    /// An update body with these resources set.
    pub fn into_update(self) -> ContainerUpdateBody {
        ContainerUpdateBody {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            nano_cpus: self.nano_cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus,
            cpuset_mems: self.cpuset_mems,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            pids_limit: self.pids_limit,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        r: ResourceArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Resources> {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        T::try_parse_from(v)?.r.parse()
    }

    #[test]
    fn sizes_cpus_and_unlimited_swap_become_api_fields() {
        let r = parse(&[
            "-m",
            "32m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "-c",
            "512",
        ])
        .unwrap();
        assert_eq!(r.memory, Some(32 << 20));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.nano_cpus, Some(1_500_000_000));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(parse(&[]).unwrap(), Resources::default());
    }

    #[test]
    fn bad_sizes_and_negative_cpus_are_refused_naming_the_flag() {
        let e = parse(&["--memory", "lots"]).unwrap_err().to_string();
        assert!(e.contains("\"--memory\" flag: invalid size"), "{e}");
        let e = parse(&["--cpus", "-1"]).unwrap_err().to_string();
        assert!(e.contains("range must be positive"), "{e}");
    }
}
