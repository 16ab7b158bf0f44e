//! The flags of `run` and `create` and their translation into the API's
//! `ContainerCreateBody` (Config + HostConfig + NetworkingConfig).

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use bollard_stubs::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, NetworkingConfig, PortMap,
};
use clap::{ArgAction, Args};

use super::container_flags::{self as flags, VolumeFlag};
use super::resource_flags::{size_flag, ResourceArgs};

#[derive(Args, Debug, Default)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    label_file: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    expose: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    #[command(flatten)]
    resources: ResourceArgs,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    oom_score_adj: Option<i64>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Ulimit options
    #[arg(long)]
    ulimit: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    device: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    sysctl: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    read_only: bool,
    /// PID namespace to use
    #[arg(long)]
    pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    userns: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    runtime: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// IMAGE [COMMAND] [ARG...]: one list, so flag parsing stops at the
    /// image as docker's does (`run busybox -c x` passes `-c` on)
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

fn key_value_map(flag: &str, specs: &[String]) -> anyhow::Result<HashMap<String, String>> {
    specs
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("invalid argument {s:?} for {flag}: expected key=value"))
        })
        .collect()
}

impl RunArgs {
    pub fn image(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }

    pub fn command(&self) -> &[String] {
        self.args.get(1..).unwrap_or(&[])
    }

    /// Which streams `run` attaches: `-a` if given, else stdout and stderr
    /// (and stdin with `-i`); none with `-d`.
    pub fn streams(&self) -> anyhow::Result<(bool, bool, bool)> {
        if self.detach {
            if !self.attach.is_empty() {
                bail!("conflicting options: cannot specify both --attach and --detach");
            }
            return Ok((false, false, false));
        }
        if self.attach.is_empty() {
            return Ok((self.interactive, true, true));
        }
        let mut s = (false, false, false);
        for a in &self.attach {
            match a.to_ascii_lowercase().as_str() {
                "stdin" => s.0 = true,
                "stdout" => s.1 = true,
                "stderr" => s.2 = true,
                other => bail!("invalid argument {other:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"),
            }
        }
        Ok(s)
    }

    /// The create request body for these flags.
    pub fn body(&self) -> anyhow::Result<ContainerCreateBody> {
        // The image list accepts hyphens (for the command's flags), so an
        // unknown flag before the image lands here.
        if self.image().starts_with('-') {
            bail!("unknown flag: {}", self.image());
        }
        let (stdin, stdout, stderr) = self.streams()?;
        let lookup = |k: &str| std::env::var(k).ok();
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(
                flags::file_lines(f)?
                    .iter()
                    .filter_map(|l| flags::env_entry(l, lookup)),
            );
        }
        env.extend(self.env.iter().filter_map(|e| flags::env_entry(e, lookup)));
        let mut label_specs = Vec::new();
        for f in &self.label_file {
            label_specs.extend(flags::file_lines(f)?);
        }
        label_specs.extend(self.label.iter().cloned());
        let labels = flags::parse_labels(&label_specs);

        let mut exposed: Vec<String> = Vec::new();
        let mut bindings: PortMap = HashMap::new();
        for p in &self.publish {
            for (key, b) in flags::parse_publish(p)? {
                if !exposed.contains(&key) {
                    exposed.push(key.clone());
                }
                bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(b);
            }
        }
        for e in &self.expose {
            for key in flags::parse_expose(e)? {
                if !exposed.contains(&key) {
                    exposed.push(key);
                }
            }
        }

        let mut binds = Vec::new();
        let mut anon = Vec::new();
        for v in &self.volume {
            match flags::parse_volume(v)? {
                VolumeFlag::Bind(b) => binds.push(b),
                VolumeFlag::Anonymous(p) => anon.push(p),
            }
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| flags::parse_mount(m))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_owned(), o.to_owned()),
                None => (t.clone(), String::new()),
            })
            .collect();

        let healthcheck = if self.no_healthcheck {
            if self.health_cmd.is_some() {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            })
        } else if self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
        {
            let d = |flag: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|s| flags::duration_ns(flag, s))
                    .transpose()
            };
            Some(HealthConfig {
                test: self
                    .health_cmd
                    .as_ref()
                    .map(|c| vec!["CMD-SHELL".to_owned(), c.clone()]),
                interval: d("--health-interval", &self.health_interval)?,
                timeout: d("--health-timeout", &self.health_timeout)?,
                retries: self.health_retries,
                start_period: d("--health-start-period", &self.health_start_period)?,
                ..Default::default()
            })
        } else {
            None
        };

        let network_mode = self.network.clone();
        let networking_config = match &network_mode {
            Some(n)
                if !matches!(n.as_str(), "none" | "host" | "bridge" | "default")
                    && !n.starts_with("container:")
                    || !self.network_alias.is_empty()
                    || self.ip.is_some()
                    || self.ip6.is_some() =>
            {
                let ipam = (self.ip.is_some() || self.ip6.is_some()).then(|| EndpointIpamConfig {
                    ipv4_address: self.ip.clone(),
                    ipv6_address: self.ip6.clone(),
                    ..Default::default()
                });
                let ep = EndpointSettings {
                    aliases: (!self.network_alias.is_empty()).then(|| self.network_alias.clone()),
                    ipam_config: ipam,
                    mac_address: self.mac_address.clone(),
                    ..Default::default()
                };
                Some(NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(n.clone(), ep)])),
                })
            }
            _ => None,
        };
        let log_config = if self.log_driver.is_some() || !self.log_opt.is_empty() {
            Some(HostConfigLogConfig {
                typ: self.log_driver.clone(),
                config: Some(key_value_map("--log-opt", &self.log_opt)?),
            })
        } else {
            None
        };
        let console_size = if self.tty {
            crate::client::tty::window_size().map(|(h, w)| vec![h as usize, w as usize])
        } else {
            None
        };
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());

        let resources = self.resources.parse()?;
        let host_config = resources.into_host_config(HostConfig {
            binds: nonempty(&binds),
            mounts: (!mounts.is_empty()).then_some(mounts),
            volumes_from: nonempty(&self.volumes_from),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            publish_all_ports: self.publish_all.then_some(true),
            network_mode,
            dns: nonempty(&self.dns),
            dns_search: nonempty(&self.dns_search),
            dns_options: nonempty(&self.dns_option),
            extra_hosts: nonempty(&self.add_host),
            restart_policy: self
                .restart
                .as_deref()
                .map(flags::parse_restart)
                .transpose()?,
            auto_remove: self.rm.then_some(true),
            oom_kill_disable: self.oom_kill_disable.then_some(true),
            oom_score_adj: self.oom_score_adj,
            cgroup_parent: self.cgroup_parent.clone(),
            shm_size: size_flag("--shm-size", &self.shm_size)?,
            ulimits: Some(
                self.ulimit
                    .iter()
                    .map(|u| flags::parse_ulimit(u))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
            .filter(|v| !v.is_empty()),
            devices: Some(
                self.device
                    .iter()
                    .map(|d| flags::parse_device(d))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
            .filter(|v| !v.is_empty()),
            sysctls: Some(key_value_map("--sysctl", &self.sysctl)?).filter(|m| !m.is_empty()),
            privileged: self.privileged.then_some(true),
            cap_add: nonempty(&self.cap_add),
            cap_drop: nonempty(&self.cap_drop),
            security_opt: Some(
                self.security_opt
                    .iter()
                    .map(|s| flags::security_opt(s))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
            .filter(|v| !v.is_empty()),
            readonly_rootfs: self.read_only.then_some(true),
            pid_mode: self.pid.clone(),
            ipc_mode: self.ipc.clone(),
            uts_mode: self.uts.clone(),
            userns_mode: self.userns.clone(),
            init: self.init.then_some(true),
            group_add: nonempty(&self.group_add),
            log_config,
            runtime: self.runtime.clone(),
            console_size,
            ..Default::default()
        });
        Ok(ContainerCreateBody {
            image: Some(self.image().to_owned()),
            cmd: (!self.command().is_empty()).then(|| self.command().to_vec()),
            entrypoint: self.entrypoint.as_ref().map(|e| vec![e.clone()]),
            env: nonempty(&env),
            labels: (!labels.is_empty()).then_some(labels),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            exposed_ports: nonempty(&exposed),
            volumes: nonempty(&anon),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && stdin),
            attach_stdin: Some(stdin),
            attach_stdout: Some(stdout),
            attach_stderr: Some(stderr),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            healthcheck,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .unwrap()
            .run
    }

    #[test]
    fn command_after_image_keeps_its_flags() {
        let r = parse(&[
            "-d", "--name", "web", "busybox", "sh", "-c", "echo hi", "-h",
        ]);
        assert!(r.detach);
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.image(), "busybox");
        assert_eq!(r.command(), ["sh", "-c", "echo hi", "-h"]);
    }

    #[test]
    fn short_h_is_hostname_not_help() {
        let r = parse(&["-h", "box", "busybox"]);
        assert_eq!(r.body().unwrap().hostname.as_deref(), Some("box"));
    }

    #[test]
    fn body_carries_config_and_host_config() {
        let r = parse(&[
            "--rm",
            "-e",
            "A=1",
            "-l",
            "x=y",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "-p",
            "8080:80",
            "-v",
            "/src:/dst:ro",
            "-v",
            "/anon",
            "--memory",
            "64m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "50",
            "--cap-add",
            "NET_ADMIN",
            "--read-only",
            "--restart",
            "on-failure:2",
            "--network",
            "none",
            "--ulimit",
            "nofile=100:200",
            "--init",
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "true",
        ]);
        let b = r.body().unwrap();
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Entrypoint"], serde_json::json!(["/bin/sh"]));
        assert_eq!(v["Cmd"], serde_json::json!(["-c", "true"]));
        assert_eq!(v["Env"], serde_json::json!(["A=1"]));
        assert_eq!(v["Labels"]["x"], "y");
        assert_eq!(v["WorkingDir"], "/tmp");
        assert_eq!(v["User"], "1000:1000");
        assert_eq!(v["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(v["Volumes"], serde_json::json!({"/anon": {}}));
        let h = &v["HostConfig"];
        assert_eq!(h["AutoRemove"], true);
        assert_eq!(h["Binds"], serde_json::json!(["/src:/dst:ro"]));
        assert_eq!(h["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(h["Memory"], 64 << 20);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["PidsLimit"], 50);
        assert_eq!(h["CapAdd"], serde_json::json!(["NET_ADMIN"]));
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(h["RestartPolicy"]["MaximumRetryCount"], 2);
        assert_eq!(h["NetworkMode"], "none");
        assert_eq!(h["Ulimits"][0]["Soft"], 100);
        assert_eq!(h["Init"], true);
        assert!(v.get("NetworkingConfig").is_none());
        assert_eq!(v["AttachStdout"], true);
        assert_eq!(v["AttachStdin"], false);
    }

    #[test]
    fn user_networks_get_an_endpoint() {
        let r = parse(&[
            "--network",
            "mynet",
            "--network-alias",
            "db",
            "--ip",
            "10.1.0.5",
            "busybox",
        ]);
        let v = serde_json::to_value(r.body().unwrap()).unwrap();
        let ep = &v["NetworkingConfig"]["EndpointsConfig"]["mynet"];
        assert_eq!(ep["Aliases"], serde_json::json!(["db"]));
        assert_eq!(ep["IPAMConfig"]["IPv4Address"], "10.1.0.5");
    }

    #[test]
    fn detached_runs_attach_nothing() {
        let r = parse(&["-d", "-i", "busybox"]);
        assert_eq!(r.streams().unwrap(), (false, false, false));
        let r = parse(&["-d", "-a", "stdout", "busybox"]);
        assert!(r.streams().is_err());
        let r = parse(&["-i", "busybox"]);
        assert_eq!(r.streams().unwrap(), (true, true, true));
    }

    #[test]
    fn unknown_flag_before_the_image_is_an_error() {
        let e = parse(&["--badflag", "busybox"]).body().unwrap_err();
        assert_eq!(e.to_string(), "unknown flag: --badflag");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&["--memory", "lots", "busybox"]).body().is_err());
        assert!(parse(&["-p", "99999:80", "busybox"]).body().is_err());
        assert!(parse(&["--restart", "maybe", "busybox"]).body().is_err());
        assert!(parse(&["--health-interval", "soon", "busybox"])
            .body()
            .is_err());
    }
}
