//! berthd's networking options (issue 11), as dockerd's flags and
//! daemon.json keys: `--default-address-pool`, `--bip`, `--fixed-cidr`,
//! `--mtu`, `--ip-masq`, `--dns`/`--dns-search`/`--dns-opt`. berthd runs in a sandbox
//! host; what it reads of the host (addresses, routes) is the sandbox's.

mod docker_support;

use std::process::Command;

use docker_support::{code, stderr, Daemon};

fn subnet_gateway(d: &Daemon, net: &str) -> String {
    d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        net,
    ])
    .trim()
    .to_owned()
}

/// `sh -c SCRIPT` in a new container (`extra` flags first): its stdout.
fn run_sh(d: &Daemon, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.ok(&args)
}

/// The subnets berth masquerades (the `masq4` set of its table).
fn masq4(d: &Daemon) -> String {
    d.host
        .sh("nft list set inet berth masq4")
        .expect("masq4 set")
}

#[test]
fn address_pools_mtu_and_dns_defaults_from_flags() {
    let d = Daemon::start_with(
        "{}",
        &[
            "--default-address-pool",
            "base=10.123.0.0/16,size=24",
            "--default-address-pool",
            "base=10.124.0.0/24,size=26",
            "--mtu",
            "1400",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "--dns-opt",
            "ndots:3",
        ],
    );
    d.load_busybox();
    // The default bridge: the pool's first subnet, the MTU on berth0.
    assert_eq!(subnet_gateway(&d, "bridge"), "10.123.0.0/24 10.123.0.1");
    let mtu = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{index .Options \"com.docker.network.driver.mtu\"}}",
        "bridge",
    ]);
    assert_eq!(mtu.trim(), "1400");
    let berth0 = d.host.sh("ip -o link show berth0").expect("berth0");
    assert!(berth0.contains("mtu 1400"), "{berth0}");

    // Networks without --subnet: the next free subnets of the pools,
    // skipping a host address, an existing network and, once the first
    // pool is used up, going on to the second.
    assert_eq!(subnet_gateway(&d, "bridge"), "10.123.0.0/24 10.123.0.1");
    d.ok(&["network", "create", "auto1"]);
    assert_eq!(subnet_gateway(&d, "auto1"), "10.123.1.0/24 10.123.1.1");
    d.host
        .sh("ip addr add 10.123.2.7/24 dev lo")
        .expect("host address");
    d.ok(&["network", "create", "--subnet", "10.123.3.0/24", "manual"]);
    d.ok(&["network", "create", "auto2"]);
    assert_eq!(subnet_gateway(&d, "auto2"), "10.123.4.0/24 10.123.4.1");
    // A host route over the rest of the first pool.
    d.host
        .sh("ip route add 10.123.0.0/17 dev lo && ip route add 10.123.128.0/17 dev lo")
        .expect("host routes");
    d.ok(&["network", "create", "auto3"]);
    assert_eq!(subnet_gateway(&d, "auto3"), "10.124.0.0/26 10.124.0.1");
    for n in ["auto4", "auto5", "auto6"] {
        d.ok(&["network", "create", n]);
    }
    assert_eq!(subnet_gateway(&d, "auto6"), "10.124.0.192/26 10.124.0.193");
    let full = d.docker(&["network", "create", "auto7"]);
    assert_ne!(code(&full), 0);
    assert!(
        stderr(&full).contains("all predefined address pools have been fully subnetted"),
        "{}",
        stderr(&full)
    );
    let fw = d.ok(&["info", "--format", "{{.FirewallBackend.Driver}}"]);
    assert_eq!(fw.trim(), "nftables");
    let pools = d.ok(&["info", "--format", "{{json .DefaultAddressPools}}"]);
    assert_eq!(
        pools.trim(),
        r#"[{"Base":"10.123.0.0/16","Size":24},{"Base":"10.124.0.0/24","Size":26}]"#
    );

    // --mtu: the container's eth0 on the default bridge; a user network
    // keeps 1500 unless its own option says otherwise.
    let link = run_sh(&d, &[], "ip -o link show eth0");
    assert!(link.contains("mtu 1400"), "{link}");
    let link = run_sh(&d, &["--network", "auto1"], "ip -o link show eth0");
    assert!(link.contains("mtu 1500"), "{link}");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.90.0.0/24",
        "-o",
        "com.docker.network.driver.mtu=1280",
        "small",
    ]);
    let link = run_sh(&d, &["--network", "small"], "ip -o link show eth0");
    assert!(link.contains("mtu 1280"), "{link}");

    // The daemon's --dns/--dns-search/--dns-opt in resolv.conf, each only
    // where the container gives none of its own.
    let conf = run_sh(&d, &[], "cat /etc/resolv.conf");
    for want in [
        "nameserver 192.0.2.53",
        "search example.test",
        "options ndots:3",
    ] {
        assert!(conf.lines().any(|l| l == want), "{want} missing:\n{conf}");
    }
    let conf = run_sh(
        &d,
        &["--dns", "192.0.2.99", "--dns-option", "ndots:1"],
        "cat /etc/resolv.conf",
    );
    assert!(conf.contains("nameserver 192.0.2.99"), "{conf}");
    assert!(!conf.contains("192.0.2.53"), "{conf}");
    assert!(conf.contains("search example.test"), "{conf}");
    assert!(
        conf.contains("options ndots:1") && !conf.contains("ndots:3"),
        "{conf}"
    );
    // On a user network the nameserver is the embedded DNS; search and
    // options still come from the daemon.
    let conf = run_sh(&d, &["--network", "auto1"], "cat /etc/resolv.conf");
    assert!(conf.contains("search example.test"), "{conf}");
    assert!(conf.contains("options ndots:3"), "{conf}");
    assert!(!conf.contains("nameserver 192.0.2.53"), "{conf}");

    for n in [
        "auto1", "auto2", "auto3", "auto4", "auto5", "auto6", "manual", "small",
    ] {
        d.ok(&["network", "rm", n]);
    }
    d.host
        .sh("ip route del 10.123.0.0/17 dev lo; ip route del 10.123.128.0/17 dev lo; ip addr del 10.123.2.7/24 dev lo")
        .expect("cleanup");
}

#[test]
fn bip_fixed_cidr_and_mtu_from_daemon_json_then_changed_at_restart() {
    let mut d = Daemon::start_with_config(
        r#"{"bip": "10.124.0.1/24", "fixed-cidr": "10.124.0.128/25", "mtu": 1450,
            "default-address-pools": [{"base": "10.125.0.0/16", "size": 24}],
            "dns": ["192.0.2.54"], "dns-search": ["json.test"], "dns-opts": ["timeout:2"],
            "ip-masq": false}"#,
    );
    d.load_busybox();
    assert_eq!(subnet_gateway(&d, "bridge"), "10.124.0.0/24 10.124.0.1");
    let range = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.IPRange}}{{end}}",
        "bridge",
    ]);
    assert_eq!(range.trim(), "10.124.0.128/25");
    // --fixed-cidr: addresses come from the range, not the whole subnet.
    d.ok(&["run", "-d", "--name", "ca", "busybox", "sleep", "60"]);
    d.ok(&["run", "-d", "--name", "cb", "busybox", "sleep", "60"]);
    let ips = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "ca",
        "cb",
    ]);
    assert_eq!(
        ips.split_whitespace().collect::<Vec<_>>(),
        ["10.124.0.128", "10.124.0.129"]
    );
    let link = d.ok(&["exec", "ca", "ip", "-o", "link", "show", "eth0"]);
    assert!(link.contains("mtu 1450"), "{link}");
    let conf = d.ok(&["exec", "ca", "cat", "/etc/resolv.conf"]);
    for want in [
        "nameserver 192.0.2.54",
        "search json.test",
        "options timeout:2",
    ] {
        assert!(conf.lines().any(|l| l == want), "{want} missing:\n{conf}");
    }
    d.ok(&["network", "create", "u1"]);
    assert_eq!(subnet_gateway(&d, "u1"), "10.125.0.0/24 10.125.0.1");
    d.ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=false",
        "u2",
    ]);
    assert_eq!(subnet_gateway(&d, "u2"), "10.125.1.0/24 10.125.1.1");
    let bad = d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_ip_masquerade=maybe",
        "u3",
    ]);
    assert_ne!(code(&bad), 0);
    assert!(
        stderr(&bad).contains("want true or false"),
        "{}",
        stderr(&bad)
    );
    // "ip-masq": false and the option: those subnets are not masqueraded
    // (a network's elements are set up at daemon start or its first attach).
    d.ok(&["run", "--rm", "--network", "u1", "busybox", "true"]);
    d.ok(&["run", "--rm", "--network", "u2", "busybox", "true"]);
    let masq = masq4(&d);
    assert!(masq.contains("10.125.0.0/24"), "{masq}");
    assert!(!masq.contains("10.125.1.0/24"), "{masq}");
    assert!(!masq.contains("10.124.0.0/24"), "{masq}");
    d.ok(&["rm", "-f", "ca", "cb"]);
    d.ok(&["network", "rm", "u1", "u2"]);

    // Restarted with only --fixed-cidr (no --bip): the range is the
    // subnet; the old gateway address leaves berth0; the MTU is back to 1500.
    d.daemon_json = "{}".into();
    d.args = vec!["--fixed-cidr".into(), "10.126.0.64/26".into()];
    d.restart();
    assert_eq!(subnet_gateway(&d, "bridge"), "10.126.0.64/26 10.126.0.65");
    let addrs = d.host.sh("ip -o -4 addr show dev berth0").expect("addrs");
    assert!(addrs.contains("10.126.0.65/26"), "{addrs}");
    assert!(!addrs.contains("10.124.0.1"), "{addrs}");
    let masq = masq4(&d);
    assert!(masq.contains("10.126.0.64/26"), "{masq}");
    assert!(!masq.contains("10.124.0.0/24"), "{masq}");
    let ip = run_sh(&d, &[], "ip -o -4 addr show dev eth0; ip -o link show eth0");
    assert!(ip.contains("inet 10.126.0.66/26"), "{ip}");
    assert!(ip.contains("mtu 1500"), "{ip}");
}

#[test]
fn bad_networking_options_keep_berthd_from_starting() {
    // Parsed before anything is made; a temp data root in the sandbox.
    let d = Daemon::start();
    let cases: [(&[&str], &str); 7] = [
        (&["--mtu", "10"], "invalid MTU"),
        (
            &["--default-address-pool", "base=10.0.0.0/8,size=4"],
            "size must be between 8 and 30",
        ),
        (
            &["--default-address-pool", "10.0.0.0/8"],
            "must be a key=value pair",
        ),
        (
            &["--default-address-pool", "base=fd00::/48,size=64"],
            "IPv6 pools are not supported",
        ),
        (
            &["--bip", "10.8.0.1/24", "--fixed-cidr", "10.9.0.0/24"],
            "is not within the default bridge's subnet",
        ),
        (
            &["--bip", "10.8.0.0/24"],
            "not a host address of its subnet",
        ),
        (&["--dns", "not-an-ip"], "not an IP address"),
    ];
    for (i, (args, msg)) in cases.iter().enumerate() {
        let root = d.host.root().join(format!("bad{i}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("daemon")
            .arg("-H")
            .arg(format!("unix://{}/s.sock", root.display()))
            .arg("--data-root")
            .arg(root.join("lib"))
            .arg("--exec-root")
            .arg(root.join("run"))
            .arg("--config-file")
            .arg(root.join("none.json"))
            .args(*args);
        std::fs::create_dir_all(&root).expect("dir");
        std::fs::write(root.join("none.json"), "{}").expect("config");
        let out = d.host.output(&mut cmd).expect("berthd");
        assert_eq!(out.status.code(), Some(1), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?} said {err}, want {msg:?}");
    }
    // The running daemon's bridge is all there is.
    let links = d.host.sh("ip -o link show type bridge").expect("links");
    assert_eq!(links.lines().count(), 1, "{links}");
}
