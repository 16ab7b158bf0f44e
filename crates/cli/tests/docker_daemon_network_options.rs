//! berthd's networking options (issue 11), as dockerd's flags and
//! daemon.json keys: `--default-address-pool`, `--bip`, `--fixed-cidr`,
//! `--mtu`, `--ip-masq`, `--dns`/`--dns-search`/`--dns-opt`, `--icc`,
//! `--iptables`, `--ipv6`/`--fixed-cidr-v6` and IPv6 pools. berthd runs in
//! a sandbox host; what it reads of the host (addresses, routes) is the
//! sandbox's.

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
    let cases: [(&[&str], &str); 10] = [
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
            &["--default-address-pool", "base=fd00::/48,size=121"],
            "size must be between 48 and 120",
        ),
        (
            &["--default-address-pool", "base=fd00::1/48,size=64"],
            "has host bits set",
        ),
        (
            &["--ipv6", "--fixed-cidr-v6", "10.9.0.0/24"],
            "invalid fixed-cidr-v6",
        ),
        (
            &["--icc=false", "--iptables=false"],
            "ICC=false uses iptables to function",
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

/// `network inspect --format FORMAT net`, trimmed.
fn net_inspect(d: &Daemon, net: &str, format: &str) -> String {
    d.ok(&["network", "inspect", "--format", format, net])
        .trim()
        .to_owned()
}

/// `wget` of `url` from the running container `from`: (exit code, output).
fn wget_in(d: &Daemon, from: &str, url: &str) -> (i32, String) {
    let out = d.docker(&[
        "exec",
        from,
        "sh",
        "-c",
        &format!("unset http_proxy HTTP_PROXY; timeout 5 wget -Y off -qO- {url}"),
    ]);
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
    )
}

/// Waits (bounded) until `fetch` succeeds; its last (exit, output).
fn until_ok(mut fetch: impl FnMut() -> (i32, String)) -> (i32, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = fetch();
        if r.0 == 0 || std::time::Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A detached busybox httpd serving `text` (`extra` flags first); its IP
/// on `net`.
fn serve(d: &Daemon, name: &str, net: &str, extra: &[&str], text: &str) -> String {
    let mut args = vec!["run", "-d", "--name", name, "--network", net];
    args.extend_from_slice(extra);
    let script =
        format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.ok(&args);
    let ip = d.ok(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
        name,
    ]);
    ip.trim().to_owned()
}

/// The ICC holes of the links in `nft list set inet berth icc_open4`
/// (or why there is no such set: right after a flush, until berthd
/// restores its table).
fn icc_holes(d: &Daemon) -> String {
    d.host
        .sh("nft list set inet berth icc_open4")
        .unwrap_or_else(|e| format!("(no icc_open4 set: {e})"))
}

#[test]
fn icc_false_lets_a_linked_container_reach_its_links_exposed_ports_only() {
    let d = Daemon::start_with("{}", &["--icc=false"]);
    d.load_busybox();
    let web = serve(&d, "web", "bridge", &["--expose", "80"], "linked");
    d.ok(&[
        "run", "-d", "--name", "app", "--link", "web:w", "busybox", "sleep", "300",
    ]);
    d.ok(&["run", "-d", "--name", "other", "busybox", "sleep", "300"]);
    let app = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.IPAddress}}",
        "app",
    ]);
    let app = app.trim();
    // The linker reaches the linked container's exposed port, by alias.
    let linked = until_ok(|| wget_in(&d, "app", "http://w/"));
    assert_eq!(linked.0, 0, "{}\n{}", linked.1, icc_holes(&d));
    assert!(linked.1.contains("linked"), "{}", linked.1);
    assert!(
        icc_holes(&d).contains(&format!("{app} . {web} . tcp . 80")),
        "{}",
        icc_holes(&d)
    );
    // A container without the link does not; nor does the linked one
    // reach back (the hole is one way, for new connections).
    let other = wget_in(&d, "other", &format!("http://{web}/"));
    assert_ne!(other.0, 0, "ICC off but reached {web}: {}", other.1);
    // The holes follow the firewall when it is flushed and restored.
    d.host.sh("nft flush ruleset").expect("flush");
    let back = until_ok(|| {
        let h = icc_holes(&d);
        (i32::from(!h.contains(&format!("{app} . {web}"))), h)
    });
    assert_eq!(back.0, 0, "link hole not restored: {}", back.1);
    // `rm --link` closes it; so does the linker's exit.
    d.ok(&["rm", "--link", "app/w"]);
    assert!(!icc_holes(&d).contains(app), "{}", icc_holes(&d));
    d.ok(&["rm", "-f", "app", "other", "web"]);
    d.ok(&[
        "run", "-d", "--name", "web2", "--expose", "80", "busybox", "sleep", "300",
    ]);
    d.ok(&["run", "--rm", "--link", "web2:w", "busybox", "true"]);
    let left = icc_holes(&d);
    assert!(
        !left.contains(". tcp . 80"),
        "holes left after the linker exited: {left}"
    );
    d.ok(&["rm", "-f", "web2"]);
}

#[test]
fn icc_false_keeps_containers_of_a_network_apart_but_not_their_published_ports() {
    let d = Daemon::start_with("{}", &["--icc=false"]);
    d.load_busybox();
    let icc = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{index .Options \"com.docker.network.bridge.enable_icc\"}}",
        "bridge",
    ]);
    assert_eq!(icc.trim(), "false");
    let fwd = d
        .host
        .sh("cat /proc/sys/net/ipv4/ip_forward")
        .expect("sysctl");
    assert_eq!(fwd.trim(), "1", "berthd turns forwarding on by default");
    let gw = net_inspect(&d, "bridge", "{{range .IPAM.Config}}{{.Gateway}}{{end}}");
    let srv = serve(&d, "srv", "bridge", &["-p", "8080:80"], "published");
    d.ok(&["run", "-d", "--name", "cli", "busybox", "sleep", "300"]);
    // Through the published port (DNAT on the gateway): allowed; this
    // also waits for httpd to listen.
    let via_port = until_ok(|| wget_in(&d, "cli", &format!("http://{gw}:8080/")));
    assert_eq!(via_port.0, 0, "{}\n{}", via_port.1, d.log_text());
    assert!(via_port.1.contains("published"), "{}", via_port.1);
    // Directly, container to container on the same bridge: dropped.
    let direct = wget_in(&d, "cli", &format!("http://{srv}/"));
    assert_ne!(direct.0, 0, "ICC off but reached {srv}: {}", direct.1);
    // The host still reaches the container.
    let from_host = d
        .host
        .sh(&format!("busybox timeout 5 wget -Y off -qO- http://{srv}/"))
        .expect("host to container");
    assert!(from_host.contains("published"), "{from_host}");

    // A user network with the option: the same; one without it: open.
    d.ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "noicc",
    ]);
    d.ok(&["network", "create", "open"]);
    for (net, reach) in [("noicc", false), ("open", true)] {
        let (s, c) = (format!("srv-{net}"), format!("cli-{net}"));
        let ip = serve(&d, &s, net, &[], net);
        d.ok(&[
            "run",
            "-d",
            "--name",
            &c,
            "--network",
            net,
            "busybox",
            "sleep",
            "300",
        ]);
        let up = until_ok(|| {
            d.host
                .sh(&format!("busybox timeout 5 wget -Y off -qO- http://{ip}/"))
                .map(|o| (0, o))
                .unwrap_or_else(|e| (1, e.to_string()))
        });
        assert_eq!(up.0, 0, "{net}: httpd not up: {}", up.1);
        let got = wget_in(&d, &c, &format!("http://{ip}/"));
        assert_eq!(got.0 == 0, reach, "{net}: {}", got.1);
        // By name, through the embedded DNS, likewise.
        let by_name = wget_in(&d, &c, &format!("http://{s}/"));
        assert_eq!(by_name.0 == 0, reach, "{net}: {}", by_name.1);
    }
    let sets = d
        .host
        .sh("nft list set inet berth no_icc")
        .expect("no_icc set");
    assert!(sets.contains("\"berth0\" . \"berth0\""), "{sets}");
    let noicc_br = net_inspect(&d, "noicc", "{{.Id}}");
    assert!(
        sets.contains(&format!("\"br-{}\"", &noicc_br.trim()[..12])),
        "{sets}"
    );
    let open_br = net_inspect(&d, "open", "{{.Id}}");
    assert!(!sets.contains(&open_br.trim()[..12]), "{sets}");

    // Bad input: the option must be a boolean.
    let bad = d.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=maybe",
        "bad",
    ]);
    assert_ne!(code(&bad), 0);
    assert!(
        stderr(&bad).contains("com.docker.network.bridge.enable_icc")
            && stderr(&bad).contains("want true or false"),
        "{}",
        stderr(&bad)
    );
    // Without IPv6 pools configured, --ipv6 takes a /64 of berthd's ULA
    // /48 (fd00::/8), with an IPv4 subnet from the IPv4 pools.
    d.ok(&["network", "create", "--ipv6", "ula"]);
    let cfg = net_inspect(&d, "ula", "{{range .IPAM.Config}}{{.Subnet}};{{end}}");
    let subnets: Vec<&str> = cfg.trim().trim_end_matches(';').split(';').collect();
    assert_eq!(subnets.len(), 2, "{cfg}");
    assert!(subnets.iter().any(|s| s.contains('.')), "{cfg}");
    assert!(
        subnets
            .iter()
            .any(|s| s.starts_with("fd") && s.ends_with("::/64")),
        "{cfg}"
    );
    d.ok(&[
        "rm",
        "-f",
        "srv",
        "cli",
        "srv-noicc",
        "cli-noicc",
        "srv-open",
        "cli-open",
    ]);
    d.ok(&["network", "rm", "noicc", "open", "ula"]);
}

#[test]
fn iptables_false_installs_no_rule_but_records_ports() {
    let d = Daemon::start_with_config(r#"{"iptables": false, "ip-forward": false}"#);
    d.load_busybox();
    let ip = serve(
        &d,
        "web",
        "bridge",
        &["-p", "8080:80", "-p", "9000-9001:81"],
        "plain",
    );
    // The ports are recorded as asked...
    let port = d.ok(&["port", "web"]);
    assert!(port.contains("80/tcp -> 0.0.0.0:8080"), "{port}");
    assert!(port.contains("81/tcp -> 0.0.0.0:9000"), "{port}");
    // ...the container is reachable directly from the host (routing, no
    // NAT), but nothing publishes the port: no table of berth's at all.
    let direct = until_ok(|| {
        d.host
            .sh(&format!("busybox timeout 5 wget -Y off -qO- http://{ip}/"))
            .map(|o| (0, o))
            .unwrap_or_else(|e| (1, e.to_string()))
    });
    assert_eq!(direct.0, 0, "{}\n{}", direct.1, d.log_text());
    assert!(
        d.host
            .sh("busybox timeout 5 wget -Y off -qO- http://127.0.0.1:8080/")
            .is_err(),
        "published with --iptables=false"
    );
    // Host-port clashes are still refused (berthd keeps the ports it
    // recorded), also after a restart with the container running.
    let clash = |d: &Daemon| {
        let out = d.docker(&[
            "run", "-d", "--name", "clash", "-p", "8080:80", "busybox", "sleep", "60",
        ]);
        d.ok(&["rm", "-f", "clash"]);
        assert_ne!(code(&out), 0, "second 8080 accepted");
        assert!(
            stderr(&out).contains("0.0.0.0:8080 failed: port is already allocated"),
            "{}",
            stderr(&out)
        );
    };
    clash(&d);
    let mut d = d;
    d.restart();
    clash(&d);
    d.ok(&["network", "create", "user1"]);
    d.ok(&["run", "--rm", "--network", "user1", "busybox", "true"]);
    let tables = d.host.sh("nft list tables").expect("nft list tables");
    assert!(!tables.contains("berth"), "{tables}");
    // "ip-forward": false: the sandbox's forwarding stays as it was (a new
    // netns starts with it off; a default berthd turns it on).
    let fwd = d
        .host
        .sh("cat /proc/sys/net/ipv4/ip_forward")
        .expect("sysctl");
    assert_eq!(fwd.trim(), "0");
    // As dockerd: no masquerade without the rules.
    let masq = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{index .Options \"com.docker.network.bridge.enable_ip_masquerade\"}}",
        "bridge",
    ]);
    assert_eq!(masq.trim(), "false");
    d.ok(&["rm", "-f", "web"]);
    // Released with the container.
    d.ok(&["run", "--rm", "-p", "8080:80", "busybox", "true"]);
    d.ok(&["network", "rm", "user1"]);
    let tables = d.host.sh("nft list tables").expect("nft list tables");
    assert!(!tables.contains("berth"), "{tables}");

    // Bad input: daemon.json's "iptables" must be a boolean.
    let root = d.host.root().join("badjson");
    std::fs::create_dir_all(&root).expect("dir");
    std::fs::write(root.join("d.json"), r#"{"iptables": "no"}"#).expect("config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}/s.sock", root.display()))
        .arg("--data-root")
        .arg(root.join("lib"))
        .arg("--exec-root")
        .arg(root.join("run"))
        .arg("--config-file")
        .arg(root.join("d.json"));
    let out = d.host.output(&mut cmd).expect("berthd");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unable to configure the daemon") && err.contains("invalid type"),
        "{err}"
    );
}

#[test]
fn ipv6_pools_give_networks_and_the_default_bridge_their_subnets() {
    let d = Daemon::start_with(
        "{}",
        &[
            "--default-address-pool",
            "base=10.131.0.0/16,size=24",
            "--default-address-pool",
            "base=fd00:131::/63,size=64",
            "--ipv6",
            "--fixed-cidr-v6",
            "fd00:130::/64",
        ],
    );
    d.load_busybox();
    let v = |net: &str| {
        net_inspect(
            &d,
            net,
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}",
        )
    };
    // The default bridge: v4 from the pool, v6 from --fixed-cidr-v6.
    let bridge = v("bridge");
    assert!(bridge.contains("10.131.0.0/24 10.131.0.1;"), "{bridge}");
    assert!(bridge.contains("fd00:130::/64 fd00:130::1;"), "{bridge}");
    let six = run_sh(&d, &[], "ip -o -6 addr show dev eth0 scope global; ping6 -c1 -W5 fd00:130::1 >/dev/null && echo ping-ok");
    assert!(six.contains("inet6 fd00:130::2/64"), "{six}");
    assert!(six.contains("ping-ok"), "{six}");
    // --ipv6 without --subnet: both families from the pools, in order.
    d.ok(&["network", "create", "--ipv6", "v6a"]);
    assert_eq!(
        v("v6a").trim(),
        "10.131.1.0/24 10.131.1.1;fd00:131::/64 fd00:131::1;"
    );
    let six = run_sh(
        &d,
        &["--network", "v6a"],
        "ip -o -6 addr show dev eth0 scope global",
    );
    assert!(six.contains("inet6 fd00:131::2/64"), "{six}");
    // An IPv6 --subnet alone: the IPv4 one still comes from the pool.
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:99::/64",
        "v6manual",
    ]);
    assert_eq!(
        v("v6manual").trim(),
        "10.131.2.0/24 10.131.2.1;fd00:99::/64 fd00:99::1;"
    );
    d.ok(&["network", "create", "--ipv6", "v6b"]);
    assert!(v("v6b").contains("fd00:131:0:1::/64"), "{}", v("v6b"));
    // The IPv6 pool is used up (two /64s); IPv4-only networks still go.
    let full = d.docker(&["network", "create", "--ipv6", "v6c"]);
    assert_ne!(code(&full), 0);
    assert!(
        stderr(&full).contains("all predefined address pools have been fully subnetted"),
        "{}",
        stderr(&full)
    );
    d.ok(&["network", "create", "v4only"]);
    assert_eq!(v("v4only").trim(), "10.131.4.0/24 10.131.4.1;");
    let pools = d.ok(&["info", "--format", "{{json .DefaultAddressPools}}"]);
    assert_eq!(
        pools.trim(),
        r#"[{"Base":"10.131.0.0/16","Size":24},{"Base":"fd00:131::/63","Size":64}]"#
    );
    d.ok(&["network", "rm", "v6a", "v6manual", "v6b", "v4only"]);
    // Freed: the next --ipv6 network gets the first /64 again.
    d.ok(&["network", "create", "--ipv6", "v6d"]);
    assert!(v("v6d").contains("fd00:131::/64"), "{}", v("v6d"));
    d.ok(&["network", "rm", "v6d"]);
}
