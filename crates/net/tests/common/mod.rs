//! Helpers shared by berth-net's root tests.
#![allow(dead_code)] // each test binary uses a subset

use std::net::IpAddr;
use std::process::{Command, Output};

use berth_net::{NetNs, Netlink};

/// A command for `prog args` inside `ns` (the calling thread's namespace
/// when `None`), for use on a thread inside a sandbox host (entered with
/// `enter_keep_pidns`). nsenter (no sysfs remount, unlike `ip netns exec`)
/// also joins the sandbox's PID namespace (its init is PID 1 in the
/// sandbox's `/proc`), so the tool finds itself in that `/proc` (busybox
/// wget needs `/proc/self`).
pub fn ns_command(ns: Option<&NetNs>, prog: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg("--pid=/proc/1/ns/pid");
    if let Some(ns) = ns {
        cmd.arg(format!("--net={}", ns.path().display()));
    }
    cmd.arg("--")
        .arg(prog)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY");
    cmd
}

/// Runs [`ns_command`] to completion.
pub fn in_ns(ns: Option<&NetNs>, prog: &str, args: &[&str]) -> Output {
    ns_command(ns, prog, args).output().expect("run nsenter")
}

/// One ICMP echo from `ns` to `ip`; true if answered.
pub fn ping(ns: &NetNs, ip: IpAddr) -> bool {
    let ip = ip.to_string();
    let out = in_ns(Some(ns), "busybox", &["ping", "-c", "1", "-W", "2", &ip]);
    out.status.success()
}

/// Brings `lo` up in the namespace `nl` talks to.
pub fn lo_up(nl: &Netlink) {
    let lo = nl.require_link("lo").expect("lo");
    nl.set_up(lo.index).expect("lo up");
}

pub fn net(s: &str) -> ipnet::IpNet {
    s.parse().expect("ipnet literal")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip literal")
}
