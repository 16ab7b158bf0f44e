//! CNI networks in berthd (issue 11), through the docker CLI with berthd
//! in a sandbox host and its CNI config dir under the sandbox root: a
//! conflist of Debian's reference bridge + host-local is a network of
//! driver `cni` in `network ls/inspect`; containers on it get addresses
//! from its range and reach each other; disconnect and rm run DEL (the
//! host-local leases and the veths go), also after a berthd restart; a
//! chain with a missing plugin fails `run` and leaves nothing; berthd
//! killed in the middle of a chain is repaired at its next start; berth's
//! own plugins (the berth-cni binary) work the same way.

mod docker_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docker_support::{code, stderr, within, Daemon};
use serde_json::{json, Value};

fn ipam_dir(d: &Daemon) -> PathBuf {
    d.host.root().join("cni-ipam")
}

/// A bridge + host-local plugin object (reference names by default).
fn bridge_plugin(d: &Daemon, kind: (&str, &str), br: &str, subnet: &str, gw: &str) -> Value {
    json!({
        "type": kind.0,
        "bridge": br,
        "isGateway": true,
        "ipMasq": false,
        "ipam": {
            "type": kind.1,
            "ranges": [[{"subnet": subnet, "gateway": gw}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": ipam_dir(d).to_string_lossy(),
        }
    })
}

const REFERENCE: (&str, &str) = ("bridge", "host-local");

fn write_conflist(d: &Daemon, file: &str, name: &str, plugins: Vec<Value>) {
    let dir = d.cni_conf_dir();
    std::fs::create_dir_all(&dir).expect("cni conf dir");
    let list = json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins});
    std::fs::write(dir.join(file), list.to_string()).expect("write conflist");
}

/// The host-local leases of network `name` (files named by address).
fn leases(d: &Daemon, name: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ipam_dir(d).join(name))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect();
    v.sort();
    v
}

fn veths(d: &Daemon) -> Vec<String> {
    d.host
        .sh("ip -o link show type veth")
        .expect("links")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn dir_entries(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn netns_files(d: &Daemon) -> Vec<String> {
    dir_entries(&d.host.dirs().run.join("netns"))
}

fn cached_results(d: &Daemon) -> Vec<String> {
    dir_entries(&d.host.dirs().lib.join("cni").join("results"))
}

fn ip_on(d: &Daemon, container: &str, net: &str) -> String {
    d.ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        container,
    ])
    .trim()
    .to_owned()
}

/// The veths gone (the kernel frees a deleted netns's pair a little later).
fn assert_no_veths(d: &Daemon) {
    let left = within(10, || {
        let v = veths(d);
        if v.is_empty() {
            Ok(())
        } else {
            Err(v)
        }
    });
    assert_eq!(left, Ok(()), "veths left");
}

fn httpd_sh(text: &str) -> String {
    format!(
        "mkdir -p /www && echo {text} > /www/index.html && httpd -p 80 -h /www && exec sleep 1000"
    )
}

#[test]
fn reference_bridge_conflist_is_a_network_containers_join_and_leave() {
    // The default plugin path (/opt/cni/bin:/usr/lib/cni) finds Debian's plugins.
    let mut d = Daemon::start();
    d.load_busybox();
    write_conflist(
        &d,
        "10-cninet.conflist",
        "cninet",
        vec![bridge_plugin(
            &d,
            REFERENCE,
            "cnibr0",
            "10.89.0.0/24",
            "10.89.0.1",
        )],
    );
    let ls = d.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    assert!(ls.lines().any(|l| l == "cninet cni local"), "{ls}");
    let inspect: Value =
        serde_json::from_str(&d.ok(&["network", "inspect", "cninet"])).expect("json");
    let net = &inspect[0];
    assert_eq!(net["Driver"], "cni", "{net}");
    assert_eq!(net["Scope"], "local");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "10.89.0.0/24", "{net}");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "10.89.0.1", "{net}");
    assert_eq!(net["Id"].as_str().map(str::len), Some(64));

    d.ok(&[
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "cninet",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cb",
        "--network",
        "cninet",
        "busybox",
        "sh",
        "-c",
        &httpd_sh("over-cni"),
    ]);
    let (ip_a, ip_b) = (ip_on(&d, "ca", "cninet"), ip_on(&d, "cb", "cninet"));
    for ip in [&ip_a, &ip_b] {
        assert!(
            ip.starts_with("10.89.0.") && ip != "10.89.0.1",
            "address {ip:?}"
        );
    }
    assert_ne!(ip_a, ip_b);
    assert_eq!(leases(&d, "cninet"), {
        let mut v = vec![ip_a.clone(), ip_b.clone()];
        v.sort();
        v
    });
    d.ok(&["exec", "ca", "ping", "-c", "1", "-W", "5", &ip_b]);
    let page = within(10, || {
        let out = d.docker(&["exec", "ca", "wget", "-qO-", &format!("http://{ip_b}/")]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("over-cni") {
            Ok(text)
        } else {
            Err(stderr(&out))
        }
    });
    assert!(page.is_ok(), "wget a -> b: {page:?}");
    let inspect: Value =
        serde_json::from_str(&d.ok(&["network", "inspect", "cninet"])).expect("json");
    let containers = inspect[0]["Containers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut shown: Vec<String> = containers
        .values()
        .map(|c| {
            format!(
                "{} {}",
                c["Name"].as_str().unwrap_or(""),
                c["IPv4Address"].as_str().unwrap_or("")
            )
        })
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        vec![format!("ca {ip_a}/24"), format!("cb {ip_b}/24")]
    );

    // Endpoints outlive a daemon restart and are DELeted after it.
    d.restart();
    assert_eq!(ip_on(&d, "ca", "cninet"), ip_a);
    d.ok(&["network", "disconnect", "cninet", "cb"]);
    assert_eq!(
        leases(&d, "cninet"),
        vec![ip_a.clone()],
        "cb's lease after disconnect"
    );
    let links = d.ok(&["exec", "cb", "ls", "/sys/class/net"]);
    assert!(!links.contains("eth0"), "cb still has eth0: {links}");
    // A container of the default bridge joins the CNI network as eth1, and leaves.
    d.ok(&["run", "-d", "--name", "cc", "busybox", "sleep", "1000"]);
    d.ok(&["network", "connect", "cninet", "cc"]);
    let ip_c = ip_on(&d, "cc", "cninet");
    assert!(ip_c.starts_with("10.89.0.") && ip_c != ip_a, "{ip_c:?}");
    assert!(d
        .ok(&["exec", "cc", "ls", "/sys/class/net"])
        .contains("eth1"));
    d.ok(&["exec", "cc", "ping", "-c", "1", "-W", "5", &ip_a]);
    assert_eq!(leases(&d, "cninet").len(), 2);
    d.ok(&["network", "disconnect", "cninet", "cc"]);
    assert_eq!(
        leases(&d, "cninet"),
        vec![ip_a.clone()],
        "cc's lease after disconnect"
    );
    assert!(!d
        .ok(&["exec", "cc", "ls", "/sys/class/net"])
        .contains("eth1"));

    // What CNI networks do not offer is refused, saying why.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "cninet",
        "-p",
        "8080:80",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("portMappings"), "{}", stderr(&out));
    let out = d.docker(&["network", "rm", "cninet"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("cannot be removed through the API"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.http("DELETE", "/networks/cninet", None);
    assert_eq!(status, 403, "{body}");
    let out = d.docker(&["network", "create", "-d", "cni", "other"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("cannot be created through the API"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.http("POST", "/networks/create", Some(r#"{"Name":"cninet"}"#));
    assert_eq!(status, 409, "{body}");
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(!pruned.contains("cninet"), "{pruned}");

    d.ok(&["rm", "-f", "ca", "cb", "cc"]);
    assert_eq!(
        leases(&d, "cninet"),
        Vec::<String>::new(),
        "leases after rm"
    );
    assert_eq!(
        cached_results(&d),
        Vec::<String>::new(),
        "cached results after rm"
    );
    assert_eq!(netns_files(&d), Vec::<String>::new(), "netns after rm");
    assert_no_veths(&d);
    // The file gone, the network is gone.
    std::fs::remove_file(d.cni_conf_dir().join("10-cninet.conflist")).expect("rm conflist");
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.lines().any(|l| l == "cninet"), "{ls}");
}

#[test]
fn a_chain_with_a_missing_plugin_fails_run_and_leaves_nothing() {
    let d = Daemon::start();
    d.load_busybox();
    write_conflist(
        &d,
        "20-broken.conflist",
        "broken",
        vec![
            bridge_plugin(&d, REFERENCE, "cnibr1", "10.90.0.0/24", "10.90.0.1"),
            json!({"type": "no-such-plugin"}),
        ],
    );
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "cx",
        "--network",
        "broken",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_ne!(code(&out), 0, "run on a broken chain succeeded");
    let err = stderr(&out);
    assert!(
        err.contains("no-such-plugin") && err.contains("not found") && err.contains("broken"),
        "{err}"
    );
    // The bridge plugin's ADD ran before the failure: the DEL undid it.
    assert_eq!(leases(&d, "broken"), Vec::<String>::new(), "lease left");
    assert_eq!(netns_files(&d), Vec::<String>::new(), "netns left");
    assert_eq!(cached_results(&d), Vec::<String>::new(), "cache entry left");
    assert_no_veths(&d);
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "", "a container runs");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "cx"]).trim(),
        "false"
    );
    assert_eq!(d.berth_mounts(), Vec::<String>::new(), "mounts left");
}

/// A plugin that, while `flag` exists, kills its caller (berthd) at ADD,
/// as a crash in the middle of the chain; otherwise it passes the
/// previous result on.
fn crash_plugin(dir: &Path, flag: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        r#"#!/bin/sh
input=$(cat)
case "$CNI_COMMAND" in
ADD)
  if [ -e {flag} ]; then kill -9 $PPID; exit 1; fi
  printf '%s' "$input" | jq -c '.prevResult + {{cniVersion: .cniVersion}}' ;;
VERSION) echo '{{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}}' ;;
esac
exit 0
"#,
        flag = flag.display()
    );
    let p = dir.join("crash");
    std::fs::write(&p, script).expect("write plugin");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn berthd_killed_mid_chain_is_repaired_by_del_at_restart() {
    let plugins = tempfile::Builder::new()
        .prefix("berth-cni-plugins-")
        .tempdir()
        .expect("plugin dir");
    let flag = plugins.path().join("crash-now");
    crash_plugin(plugins.path(), &flag);
    let mut d = Daemon::start_with_config(
        &json!({"cni-bin-dir": format!("{}:/usr/lib/cni", plugins.path().display())}).to_string(),
    );
    d.load_busybox();
    write_conflist(
        &d,
        "30-crashnet.conflist",
        "crashnet",
        vec![
            bridge_plugin(&d, REFERENCE, "cnibr2", "10.92.0.0/24", "10.92.0.1"),
            json!({"type": "crash"}),
        ],
    );
    std::fs::write(&flag, "").expect("flag");
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "half",
        "--network",
        "crashnet",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_ne!(code(&out), 0, "run answered although berthd died");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.exited() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        d.exited(),
        "berthd was not killed by the plugin:\n{}",
        d.log_text()
    );
    // Half made: the bridge plugin's veth and lease, berthd's intent record.
    assert_eq!(
        leases(&d, "crashnet").len(),
        1,
        "{:?}",
        leases(&d, "crashnet")
    );
    assert_eq!(veths(&d).len(), 1, "{:?}", veths(&d));
    assert_eq!(cached_results(&d).len(), 1, "{:?}", cached_results(&d));

    std::fs::remove_file(&flag).expect("unflag");
    d.start_again(&[]);
    assert_eq!(
        leases(&d, "crashnet"),
        Vec::<String>::new(),
        "lease left after restart"
    );
    assert_eq!(
        cached_results(&d),
        Vec::<String>::new(),
        "intent left after restart"
    );
    assert_eq!(netns_files(&d), Vec::<String>::new(), "netns left");
    assert_no_veths(&d);
    assert!(
        d.log_text()
            .contains("CNI DEL of an attachment no recorded endpoint holds"),
        "{}",
        docker_support::tail(&d.log_text(), 30)
    );
    // The chain works once the plugin stops crashing.
    d.ok(&["rm", "-f", "half"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "whole",
        "--network",
        "crashnet",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(ip_on(&d, "whole", "crashnet").starts_with("10.92.0."));
    d.ok(&["rm", "-f", "whole"]);
    assert_eq!(leases(&d, "crashnet"), Vec::<String>::new());
    assert_no_veths(&d);
}

#[test]
fn berth_own_plugins_serve_a_cni_network() {
    let plugins = tempfile::Builder::new()
        .prefix("berth-cni-plugins-")
        .tempdir()
        .expect("plugin dir");
    // Plugin names linked to a binary that serves them by argv[0], as
    // scripts/install.sh links them to berth-cni; `berth` runs the same
    // plugin entry (crates/cni/src/entry.rs), and berth-cni's own binary is
    // tested in crates/cni/tests/plugin_binary.rs.
    for name in ["berth-bridge", "berth-host-local"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), plugins.path().join(name))
            .expect("symlink plugin");
    }
    let d = Daemon::start_with_config(
        &json!({"cni-bin-dir": plugins.path().display().to_string()}).to_string(),
    );
    d.load_busybox();
    write_conflist(
        &d,
        "40-berthnet.conflist",
        "berthnet",
        vec![bridge_plugin(
            &d,
            ("berth-bridge", "berth-host-local"),
            "cnibr3",
            "10.93.0.0/24",
            "10.93.0.1",
        )],
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cp",
        "--network",
        "berthnet",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cq",
        "--network",
        "berthnet",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (ip_p, ip_q) = (ip_on(&d, "cp", "berthnet"), ip_on(&d, "cq", "berthnet"));
    assert!(
        ip_p.starts_with("10.93.0.") && ip_q.starts_with("10.93.0.") && ip_p != ip_q,
        "{ip_p} {ip_q}"
    );
    d.ok(&["exec", "cp", "ping", "-c", "1", "-W", "5", &ip_q]);
    d.ok(&["rm", "-f", "cp", "cq"]);
    assert_eq!(cached_results(&d), Vec::<String>::new());
    assert_eq!(netns_files(&d), Vec::<String>::new());
    assert_no_veths(&d);
}

#[test]
fn published_port_through_the_reference_portmap_plugin() {
    let d = Daemon::start();
    d.load_busybox();
    write_conflist(
        &d,
        "50-portnet.conflist",
        "portnet",
        vec![
            bridge_plugin(&d, REFERENCE, "cnibr4", "10.94.0.0/24", "10.94.0.1"),
            json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        ],
    );
    // portmap takes explicit host ports only.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "portnet",
        "-p",
        "80",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("explicit host ports"),
        "{}",
        stderr(&out)
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "portnet",
        "-p",
        "8085:80",
        "busybox",
        "sh",
        "-c",
        &httpd_sh("mapped"),
    ]);
    let ports = d.ok(&["port", "web"]);
    assert!(ports.contains("8085"), "{ports}");
    // From the sandbox host to one of its own addresses: portmap's DNAT.
    let got = within(10, || {
        d.host
            .sh("busybox timeout 5 wget -Y off -qO- http://10.94.0.1:8085/")
            .map_err(|e| e.to_string())
    });
    assert!(
        got.as_deref().is_ok_and(|s| s.contains("mapped")),
        "{got:?}"
    );
    let nat = d.host.sh("iptables -t nat -S").expect("iptables");
    assert!(
        nat.contains("8085"),
        "no portmap rule while running:\n{nat}"
    );
    d.ok(&["rm", "-f", "web"]);
    let nat = d.host.sh("iptables -t nat -S").expect("iptables");
    assert!(!nat.contains("8085"), "portmap rule left:\n{nat}");
    assert_eq!(leases(&d, "portnet"), Vec::<String>::new());
    assert_no_veths(&d);
}
