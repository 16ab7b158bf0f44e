//! Helpers shared by berth-net's root tests.
#![allow(dead_code)] // each test binary uses a subset

use std::net::IpAddr;
use std::process::{Command, Output};

use berth_net::{NetNs, Netlink};

/// Runs `prog args` inside `ns` via nsenter (no sysfs remount, unlike `ip
/// netns exec`), from the calling thread's namespaces (the sandbox's).
pub fn in_ns(ns: &NetNs, prog: &str, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .arg(prog)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .output()
        .expect("run nsenter")
}

/// One ICMP echo from `ns` to `ip`; true if answered.
pub fn ping(ns: &NetNs, ip: IpAddr) -> bool {
    let ip = ip.to_string();
    let out = in_ns(ns, "busybox", &["ping", "-c", "1", "-W", "2", &ip]);
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
