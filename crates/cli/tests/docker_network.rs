//! Engine networking (issue 11) through the real docker CLI: the default
//! bridge, published ports, user-defined networks and their isolation.
//! berthd runs in a sandbox host; every link, netns and nftables table
//! it makes is inside that sandbox.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::{code, fetch_from_host, httpd, stderr, within, Daemon};

/// `wget` of `url` from a new container (no proxy), returning (exit, output).
fn fetch_from_container(d: &Daemon, network: &str, url: &str) -> (i32, String) {
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        network,
        "busybox",
        "sh",
        "-c",
        // Not the shell's last command: as pid 1 (sh execs its last
        // command) wget would ignore timeout's SIGTERM.
        &format!("unset http_proxy HTTP_PROXY; timeout 5 wget -Y off -qO- {url}; exit $?"),
    ]);
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out),
    )
}

/// Nothing berth made for containers is left in the sandbox: no veth, no
/// netns mount; and the test's own netns has no berth table.
fn assert_nothing_leaked(d: &Daemon) {
    // Teardown deletes the container's netns; the kernel frees its veth
    // pair afterwards, in its own cleanup work: wait for that, bounded.
    let mut links = String::new();
    for _ in 0..100 {
        links = d.host.sh("ip -o link show").expect("links");
        if !links.lines().any(|l| l.contains("veth")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !links.lines().any(|l| l.contains("veth")),
        "veth left behind:\n{links}"
    );
    assert_eq!(d.berth_mounts(), Vec::<String>::new(), "mounts left behind");
    let here = std::process::Command::new("nft")
        .args(["list", "table", "inet", "berth"])
        .output()
        .expect("nft");
    assert!(
        !here.status.success(),
        "an inet berth table exists outside the sandbox"
    );
    let there = d.host.sh("nft list table inet berth").expect("berth table");
    assert!(there.contains("dnat4_any"), "{there}");
}

#[test]
fn default_bridge_containers_reach_each_other() {
    let d = Daemon::start();
    d.load_busybox();
    let subnet = d.ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
    ]);
    let (subnet, gateway) = subnet.trim().split_once(' ').expect("subnet and gateway");
    let routes = d.host.sh("ip -4 route show table main").expect("routes");
    assert!(subnet.ends_with("/16"), "{subnet}");
    assert!(
        subnet.starts_with("172.") || subnet.starts_with("10."),
        "{subnet}"
    );
    assert!(
        routes.contains(&format!("{} dev berth0", subnet)),
        "{routes}"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        &httpd("hello-berth"),
    ]);
    let ip = d.inspect("web", "{{.NetworkSettings.IPAddress}}");
    assert!(!ip.is_empty(), "no IPAddress");
    // A /16: the first two octets are the network's.
    let prefix: String = subnet.split('.').take(2).map(|o| format!("{o}.")).collect();
    assert!(ip.starts_with(&prefix), "{ip} not in {subnet}");
    assert_eq!(d.inspect("web", "{{.NetworkSettings.Gateway}}"), gateway);
    let mac = d.inspect("web", "{{.NetworkSettings.MacAddress}}");
    assert_eq!(mac.len(), 17, "{mac}");
    let ep = d.inspect("web",
        "{{with .NetworkSettings.Networks.bridge}}{{.IPAddress}} {{.Gateway}} {{.MacAddress}} {{.IPPrefixLen}} {{.NetworkID}} {{.EndpointID}}{{end}}",
    );
    let net_id = d.ok(&["network", "inspect", "bridge", "--format", "{{.Id}}"]);
    let fields: Vec<&str> = ep.split(' ').collect();
    assert_eq!(
        &fields[..4],
        [ip.as_str(), gateway, mac.as_str(), "16"],
        "{ep}"
    );
    assert_eq!(fields[4], net_id.trim());
    assert_eq!(fields[5].len(), 64, "{ep}");

    // Another container fetches the first by its address.
    let mut fetched = (1, String::new());
    // httpd may not be listening yet right after `docker run -d`.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        fetched = fetch_from_container(&d, "bridge", &format!("http://{ip}/"));
        if fetched.0 == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(fetched.0, 0, "{}\n{}", fetched.1, d.log_text());
    assert!(fetched.1.contains("hello-berth"), "{}", fetched.1);

    // network inspect lists the container with its address.
    let containers = d.ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}",
    ]);
    assert!(containers.contains(&format!("web={ip}/16")), "{containers}");

    d.ok(&["rm", "-f", "web"]);
    assert_nothing_leaked(&d);
}

#[test]
fn published_port_answers_until_stop() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        &httpd("published"),
    ]);
    let gateway = d
        .ok(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        ])
        .trim()
        .to_owned();
    let port = d.ok(&["port", "pub"]);
    assert!(port.contains("80/tcp -> 0.0.0.0:8080"), "{port}");
    // docker ps reads the list's Ports.
    let listed = d.ok(&["ps", "--filter", "name=pub", "--format", "{{.Ports}}"]);
    assert_eq!(listed.trim(), "0.0.0.0:8080->80/tcp", "{listed}");

    // From the sandbox host: its 127.0.0.1 and its bridge address.
    let mut got = Err(String::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        got = fetch_from_host(&d, "http://127.0.0.1:8080/");
        if got.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        got.as_deref().is_ok_and(|s| s.contains("published")),
        "{got:?}\n{}",
        d.log_text()
    );
    let via_gw = fetch_from_host(&d, &format!("http://{gateway}:8080/"));
    assert!(
        via_gw.as_deref().is_ok_and(|s| s.contains("published")),
        "{via_gw:?}"
    );
    // From another container, through the host's address (hairpin).
    let other = fetch_from_container(&d, "bridge", &format!("http://{gateway}:8080/"));
    assert_eq!(other.0, 0, "{}", other.1);
    assert!(other.1.contains("published"), "{}", other.1);

    // The same host port again: a clear error, the container not started.
    let clash = d.docker(&[
        "run", "-d", "--name", "clash", "-p", "8080:80", "busybox", "sleep", "30",
    ]);
    assert_ne!(code(&clash), 0);
    assert!(
        stderr(&clash).contains("port is already allocated"),
        "{}",
        stderr(&clash)
    );
    assert_eq!(d.inspect("clash", "{{.State.Running}}"), "false");
    d.ok(&["rm", "-f", "clash"]);

    d.ok(&["stop", "-t", "1", "pub"]);
    // The stop's release runs as the exit is handled; wait for the state.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = fetch_from_host(&d, "http://127.0.0.1:8080/");
    while after.is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = fetch_from_host(&d, "http://127.0.0.1:8080/");
    }
    assert!(after.is_err(), "still answering after stop: {after:?}");
    let rules = d.host.sh("nft list map inet berth dnat4_any").expect("map");
    assert!(!rules.contains("8080"), "{rules}");
    assert_eq!(d.ok(&["port", "pub"]).trim(), "");
    d.ok(&["rm", "pub"]);
    assert_nothing_leaked(&d);
}

#[test]
fn user_network_is_isolated_from_the_default_one() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/24",
        "--gateway",
        "10.77.0.1",
        "--label",
        "team=a",
        "-o",
        "com.docker.network.bridge.name=brtest0",
        "isol",
    ]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in ["bridge bridge", "host host", "none null", "isol bridge"] {
        assert!(ls.lines().any(|l| l == want), "{want} missing in:\n{ls}");
    }
    let shown = d.ok(&[
        "network",
        "inspect",
        "isol",
        "--format",
        "{{.Id}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}} {{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    assert_eq!(
        shown.trim(),
        format!("{id} 10.77.0.0/24 10.77.0.1 a brtest0")
    );
    let dup = d.docker(&["network", "create", "isol"]);
    assert_ne!(code(&dup), 0);
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let overlap = d.docker(&["network", "create", "--subnet", "10.77.0.128/25", "other"]);
    assert_ne!(code(&overlap), 0);
    assert!(
        stderr(&overlap).contains("overlaps"),
        "{}",
        stderr(&overlap)
    );
    let bad_gw = d.docker(&[
        "network",
        "create",
        "--subnet",
        "10.78.0.0/24",
        "--gateway",
        "10.79.0.1",
        "badgw",
    ]);
    assert_ne!(code(&bad_gw), 0);
    assert!(stderr(&bad_gw).contains("gateway"), "{}", stderr(&bad_gw));

    d.ok(&[
        "run",
        "-d",
        "--name",
        "ua",
        "--network",
        "isol",
        "busybox",
        "sh",
        "-c",
        &httpd("on-isol"),
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "dflt",
        "busybox",
        "sh",
        "-c",
        &httpd("on-default"),
    ]);
    let a_ip = d.inspect(
        "ua",
        "{{(index .NetworkSettings.Networks \"isol\").IPAddress}}",
    );
    let dflt_ip = d.inspect("dflt", "{{.NetworkSettings.IPAddress}}");
    assert!(a_ip.starts_with("10.77.0."), "{a_ip}");
    assert_eq!(d.inspect("ua", "{{.HostConfig.NetworkMode}}"), "isol");

    let mut same = (1, String::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        same = fetch_from_container(&d, "isol", &format!("http://{a_ip}/"));
        if same.0 == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(same.0, 0, "{}", same.1);
    assert!(same.1.contains("on-isol"), "{}", same.1);
    // The default bridge is up too (so isolation, not a dead server, is what fails below).
    let dflt = fetch_from_container(&d, "bridge", &format!("http://{dflt_ip}/"));
    assert!(dflt.1.contains("on-default"), "{}", dflt.1);
    let across = fetch_from_container(&d, "bridge", &format!("http://{a_ip}/"));
    assert_ne!(across.0, 0, "default bridge reached isol: {}", across.1);
    let back = fetch_from_container(&d, "isol", &format!("http://{dflt_ip}/"));
    assert_ne!(back.0, 0, "isol reached the default bridge: {}", back.1);

    let members = d.ok(&[
        "network",
        "inspect",
        "isol",
        "--format",
        "{{range .Containers}}{{.Name}} {{end}}",
    ]);
    assert_eq!(members.trim(), "ua");
    let busy = d.docker(&["network", "rm", "isol"]);
    assert_ne!(code(&busy), 0);
    assert!(
        stderr(&busy).contains("active endpoints"),
        "{}",
        stderr(&busy)
    );
    let predefined = d.docker(&["network", "rm", "bridge"]);
    assert!(
        stderr(&predefined).contains("pre-defined"),
        "{}",
        stderr(&predefined)
    );

    // --internal: no route out.
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.88.0.0/24",
        "inner",
    ]);
    let routes = d.ok(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox",
        "ip",
        "-4",
        "route",
    ]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(routes.contains("10.88.0.0/24"), "{routes}");
    d.ok(&["network", "rm", "inner"]);

    d.ok(&["rm", "-f", "ua", "dflt"]);
    d.ok(&["network", "rm", "isol"]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.lines().any(|l| l == "isol"), "{ls}");
    assert!(
        d.host.sh("ip link show brtest0").is_err(),
        "bridge left behind"
    );
    let unknown = d.docker(&["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert_ne!(code(&unknown), 0);
    assert!(
        stderr(&unknown).contains("network nosuch not found"),
        "{}",
        stderr(&unknown)
    );
    assert_nothing_leaked(&d);
}

#[test]
fn random_ranged_and_udp_ports() {
    let d = Daemon::start();
    d.load_busybox();
    // -P with --expose: a free host port from the ephemeral range.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "anyport",
        "--expose",
        "80",
        "-P",
        "busybox",
        "sh",
        "-c",
        &httpd("any-port"),
    ]);
    let port = d.ok(&["port", "anyport", "80/tcp"]);
    let hp: u16 = port
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("docker port said {port:?}"));
    assert!((32768..=60999).contains(&hp), "{hp}");
    let got = within(20, || {
        fetch_from_host(&d, &format!("http://127.0.0.1:{hp}/"))
    });
    assert!(
        got.as_deref().is_ok_and(|s| s.contains("any-port")),
        "{got:?}"
    );

    // A host port range: two containers get its two ports; a third has none left.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "r1",
        "-p",
        "127.0.0.1:9100-9101:80",
        "busybox",
        "sh",
        "-c",
        &httpd("r1"),
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "r2",
        "-p",
        "127.0.0.1:9100-9101:80",
        "busybox",
        "sh",
        "-c",
        &httpd("r2"),
    ]);
    assert_eq!(d.ok(&["port", "r1", "80"]).trim(), "127.0.0.1:9100");
    assert_eq!(d.ok(&["port", "r2", "80"]).trim(), "127.0.0.1:9101");
    let got = within(20, || fetch_from_host(&d, "http://127.0.0.1:9101/"));
    assert!(got.as_deref().is_ok_and(|s| s.contains("r2")), "{got:?}");
    let full = d.docker(&[
        "run",
        "-d",
        "--name",
        "r3",
        "-p",
        "127.0.0.1:9100-9101:80",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_ne!(code(&full), 0);
    assert!(
        stderr(&full).contains("port is already allocated"),
        "{}",
        stderr(&full)
    );
    // Bound to 127.0.0.1 only: not on the bridge's address.
    let gateway = d
        .ok(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        ])
        .trim()
        .to_owned();
    assert!(fetch_from_host(&d, &format!("http://{gateway}:9100/")).is_err());

    // UDP: a datagram to the published port reaches the container (busybox
    // has no UDP server: the host's python3, mounted read-only, is one).
    let udp_server = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 7000)); print(s.recvfrom(100)[0].decode(), flush=True)";
    d.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        "7000:7000/udp",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/lib64:/lib64:ro",
        "-v",
        "/lib:/lib:ro",
        "busybox",
        "/usr/bin/python3",
        "-c",
        udp_server,
    ]);
    assert_eq!(d.ok(&["port", "udp"]).trim(), "7000/udp -> 0.0.0.0:7000");
    let heard = within(20, || {
        let _ = d.host.sh(&format!(
            "python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'over-udp', ('{gateway}', 7000))\""
        ));
        let logs = d.ok(&["logs", "udp"]);
        if logs.contains("over-udp") {
            Ok(logs)
        } else {
            Err(logs)
        }
    });
    assert!(heard.is_ok(), "{heard:?}");

    // A host port held by a process of the host: refused before start.
    let mut holder = d
        .host
        .spawn(
            std::process::Command::new("busybox")
                .args(["nc", "-l", "-p", "9200"])
                .stdin(std::process::Stdio::null()),
        )
        .expect("listener");
    let busy = within(20, || {
        let o = d.docker(&[
            "run", "-d", "--name", "held", "-p", "9200:80", "busybox", "sleep", "30",
        ]);
        if stderr(&o).contains("port is already allocated") {
            Ok(o)
        } else {
            let _ = d.docker(&["rm", "-f", "held"]);
            Err(stderr(&o))
        }
    });
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(busy.is_ok(), "{busy:?}");
    assert_eq!(d.inspect("held", "{{.State.Running}}"), "false");

    d.ok(&["rm", "-f", "anyport", "r1", "r2", "r3", "udp", "held"]);
    let maps = d
        .host
        .sh("nft list map inet berth dnat4; nft list map inet berth dnat4_any")
        .expect("maps");
    assert!(!maps.contains("elements"), "elements left behind:\n{maps}");
    assert_nothing_leaked(&d);
}

#[test]
fn none_host_and_container_modes() {
    let d = Daemon::start();
    d.load_busybox();
    let none = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    let links: Vec<&str> = none.lines().collect();
    assert_eq!(links.len(), 1, "{none}");
    assert!(links[0].contains(": lo:"), "{none}");
    // Like every network, host and none have 64-hex ids (clients shorten them).
    for n in ["host", "none"] {
        let id = d.ok(&["network", "inspect", n, "--format", "{{.Id}}"]);
        let id = id.trim();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{n}: {id}"
        );
        let by_id = d.ok(&["network", "inspect", &id[..12], "--format", "{{.Name}}"]);
        assert_eq!(by_id.trim(), n);
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nonec",
        "--network",
        "none",
        "busybox",
        "sleep",
        "30",
    ]);
    assert_eq!(d.inspect("nonec", "{{.NetworkSettings.IPAddress}}"), "");
    assert_eq!(
        d.inspect(
            "nonec",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"
        ),
        "none"
    );

    // host: the daemon's netns (the sandbox host), which has berth0.
    let host = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host.contains("berth0"), "{host}");

    // container:NAME shares the netns: 127.0.0.1 reaches the other's server.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "busybox",
        "sh",
        "-c",
        &httpd("shared-ns"),
    ]);
    let srv_ip = d.inspect("srv", "{{.NetworkSettings.IPAddress}}");
    let srv_id = d.inspect("srv", "{{.Id}}");
    for who in [
        "container:srv".to_owned(),
        format!("container:{}", &srv_id[..12]),
    ] {
        let got = within(20, || {
            let o = d.docker(&[
                "run",
                "--rm",
                "--network",
                &who,
                "busybox",
                "sh",
                "-c",
                "wget -Y off -qO- http://127.0.0.1/; ip -o -4 addr show eth0",
            ]);
            if code(&o) == 0 {
                Ok(String::from_utf8_lossy(&o.stdout).into_owned())
            } else {
                Err(stderr(&o))
            }
        });
        let got = got.expect("fetch over the shared netns");
        assert!(got.contains("shared-ns"), "{got}");
        assert!(got.contains(&format!("inet {srv_ip}/")), "{got}");
    }
    // Joining a stopped container is refused.
    d.ok(&["stop", "-t", "1", "nonec"]);
    let stopped = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nonec",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&stopped), 0);
    assert!(
        stderr(&stopped).contains("non running container"),
        "{}",
        stderr(&stopped)
    );
    let missing = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&missing), 0);
    assert!(stderr(&missing).contains("nosuch"), "{}", stderr(&missing));
    d.ok(&["rm", "-f", "srv", "nonec"]);
    assert_nothing_leaked(&d);
}

#[test]
fn connect_disconnect_static_ips_aliases_and_prune() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.60.0.0/24",
        "--ip-range",
        "10.60.0.128/25",
        "n1",
    ]);
    d.ok(&["network", "create", "--subnet", "10.61.0.0/24", "n2"]);
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "n1",
            "--format",
            "{{range .IPAM.Config}}{{.IPRange}}{{end}}"
        ])
        .trim(),
        "10.60.0.128/25"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "n1",
        "--network-alias",
        "web1",
        "busybox",
        "sh",
        "-c",
        &httpd("c1"),
    ]);
    let c1_n1 = d.inspect(
        "c1",
        "{{(index .NetworkSettings.Networks \"n1\").IPAddress}}",
    );
    assert_eq!(c1_n1, "10.60.0.128", "first address of the ip-range");
    assert_eq!(
        d.inspect("c1", "{{(index .NetworkSettings.Networks \"n1\").Aliases}}"),
        "[web1]"
    );

    // --ip: a static address, anywhere in the subnet; taken or outside: refused.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "n1",
        "--ip",
        "10.60.0.5",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        d.inspect(
            "c2",
            "{{(index .NetworkSettings.Networks \"n1\").IPAddress}}"
        ),
        "10.60.0.5"
    );
    let taken = d.docker(&[
        "run",
        "-d",
        "--name",
        "c3",
        "--network",
        "n1",
        "--ip",
        "10.60.0.5",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_ne!(code(&taken), 0);
    assert!(
        stderr(&taken).contains("Address already in use"),
        "{}",
        stderr(&taken)
    );
    let outside = d.docker(&[
        "run",
        "-d",
        "--name",
        "c4",
        "--network",
        "n1",
        "--ip",
        "10.99.0.5",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_ne!(code(&outside), 0);
    assert!(
        stderr(&outside).contains("no configured subnet"),
        "{}",
        stderr(&outside)
    );
    // (the docker CLI refuses this one itself; the API must too)
    let alias_on_default = r#"{"Image":"busybox","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":["x"]}}}}"#;
    let (status, body) = d.http("POST", "/containers/create", Some(alias_on_default));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("user defined networks"), "{body}");
    let _ = d.docker(&["rm", "-f", "c3", "c4"]);

    // connect a running container to n2: eth1, reachable from n2, default route kept.
    d.ok(&["network", "connect", "n2", "c1"]);
    let c1_n2 = d.inspect(
        "c1",
        "{{(index .NetworkSettings.Networks \"n2\").IPAddress}}",
    );
    assert!(c1_n2.starts_with("10.61.0."), "{c1_n2}");
    let links = d.ok(&["exec", "c1", "ip", "-o", "-4", "addr"]);
    assert!(
        links.contains(&format!("eth1    inet {c1_n2}/24")),
        "{links}"
    );
    let route = d.ok(&["exec", "c1", "ip", "route", "show", "default"]);
    assert!(route.contains("via 10.60.0.1"), "{route}");
    let got = within(20, || {
        let r = fetch_from_container(&d, "n2", &format!("http://{c1_n2}/"));
        if r.0 == 0 {
            Ok(r.1)
        } else {
            Err(r.1)
        }
    });
    assert!(got.as_deref().is_ok_and(|s| s.contains("c1")), "{got:?}");
    let members = d.ok(&[
        "network",
        "inspect",
        "n2",
        "--format",
        "{{range .Containers}}{{.Name}} {{end}}",
    ]);
    assert_eq!(members.trim(), "c1");
    let again = d.docker(&["network", "connect", "n2", "c1"]);
    assert_ne!(code(&again), 0);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let nonet = d.docker(&["network", "connect", "nosuch", "c1"]);
    assert!(stderr(&nonet).contains("not found"), "{}", stderr(&nonet));

    // disconnect: the interface, lease and membership go; the container runs on.
    d.ok(&["network", "disconnect", "n2", "c1"]);
    let links = d.ok(&["exec", "c1", "ip", "-o", "link"]);
    assert!(!links.contains("eth1"), "{links}");
    let gone = fetch_from_container(&d, "n2", &format!("http://{c1_n2}/"));
    assert_ne!(gone.0, 0, "{}", gone.1);
    assert_eq!(d.inspect("c1", "{{.State.Running}}"), "true");
    let not_connected = d.docker(&["network", "disconnect", "n2", "c1"]);
    assert_ne!(code(&not_connected), 0);
    assert!(
        stderr(&not_connected).contains("is not connected to network n2"),
        "{}",
        stderr(&not_connected)
    );

    // connect a stopped container: attached at its next start.
    d.ok(&["stop", "-t", "1", "c2"]);
    d.ok(&["network", "connect", "--ip", "10.61.0.77", "n2", "c2"]);
    d.ok(&["start", "c2"]);
    assert_eq!(
        d.inspect(
            "c2",
            "{{(index .NetworkSettings.Networks \"n2\").IPAddress}}"
        ),
        "10.61.0.77"
    );
    assert_eq!(
        d.inspect(
            "c2",
            "{{(index .NetworkSettings.Networks \"n1\").IPAddress}}"
        ),
        "10.60.0.5"
    );

    // Status codes of bad input, as dockerd's.
    // dockerd: 403 (active endpoints), not 409.
    assert_eq!(d.http("DELETE", "/networks/n1", None).0, 403);
    assert_eq!(d.http("DELETE", "/networks/bridge", None).0, 403);
    assert_eq!(d.http("GET", "/networks/nosuch", None).0, 404);
    assert_eq!(d.http("DELETE", "/networks/nosuch", None).0, 404);
    let bad_gw =
        r#"{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.62.0.0/24","Gateway":"10.63.0.1"}]}}"#;
    assert_eq!(d.http("POST", "/networks/create", Some(bad_gw)).0, 400);
    let bad_subnet = r#"{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.62.0.0/99"}]}}"#;
    assert_eq!(d.http("POST", "/networks/create", Some(bad_subnet)).0, 400);

    // prune: unused networks that the filters pick; in-use ones stay.
    d.ok(&["network", "create", "--label", "tmp=1", "spare1"]);
    d.ok(&["network", "create", "spare2"]);
    let pruned = d.ok(&["network", "prune", "-f", "--filter", "label=tmp"]);
    assert!(
        pruned.contains("spare1") && !pruned.contains("spare2"),
        "{pruned}"
    );
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.contains("spare2") && !pruned.contains("n1"),
        "{pruned}"
    );
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        ls.lines().any(|l| l == "n1") && ls.lines().any(|l| l == "n2"),
        "{ls}"
    );

    d.ok(&["rm", "-f", "c1", "c2"]);
    // The leases went with the containers: their static addresses are free.
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.60.0.5",
        "busybox",
        "true",
    ]);
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "n2",
        "--ip",
        "10.61.0.77",
        "busybox",
        "true",
    ]);
    d.ok(&["network", "rm", "n1", "n2"]);
    assert_nothing_leaked(&d);
}

/// As in dockerd: disconnecting a container's only network leaves its
/// NetworkMode as it was and it on no network (only lo); it can be
/// connected again, also with a static address, and a restart attaches
/// just what it is connected to.
#[test]
fn disconnect_of_the_last_network_keeps_the_mode_and_reconnects() {
    let d = Daemon::start();
    d.load_busybox();
    // Names as dockerd takes them: spaces too; a '/' is refused (400).
    d.ok(&["network", "create", "test 01"]);
    assert_eq!(
        d.ok(&["network", "inspect", "test 01", "--format", "{{.Name}}"])
            .trim(),
        "test 01"
    );
    d.ok(&["network", "rm", "test 01"]);
    let slash = d.docker(&["network", "create", "a/b"]);
    assert_ne!(code(&slash), 0);
    assert!(
        stderr(&slash).contains("invalid network name"),
        "{}",
        stderr(&slash)
    );
    d.ok(&["network", "create", "--subnet", "10.62.0.0/24", "solo"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "lone",
        "--network",
        "solo",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&["network", "disconnect", "solo", "lone"]);
    assert_eq!(d.inspect("lone", "{{.HostConfig.NetworkMode}}"), "solo");
    assert_eq!(
        d.inspect(
            "lone",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"
        ),
        ""
    );
    let links = d.ok(&["exec", "lone", "ls", "/sys/class/net"]);
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    // A second disconnect is an error: it is on no network now.
    assert_ne!(
        code(&d.docker(&["network", "disconnect", "solo", "lone"])),
        0
    );

    d.ok(&["network", "connect", "--ip", "10.62.0.24", "solo", "lone"]);
    assert_eq!(
        d.inspect(
            "lone",
            "{{(index .NetworkSettings.Networks \"solo\").IPAMConfig.IPv4Address}}"
        ),
        "10.62.0.24"
    );
    let addr = d.ok(&["exec", "lone", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(addr.contains("10.62.0.24/24"), "{addr}");

    // Off the network again, then restarted: only lo.
    d.ok(&["network", "disconnect", "solo", "lone"]);
    d.ok(&["restart", "-t", "0", "lone"]);
    let links = d.ok(&["exec", "lone", "ls", "/sys/class/net"]);
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "solo",
            "--format",
            "{{len .Containers}}"
        ])
        .trim(),
        "0"
    );
    d.ok(&["rm", "-f", "lone"]);
    d.ok(&["network", "rm", "solo"]);
}
