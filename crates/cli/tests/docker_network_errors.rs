//! Bad networking input through the docker CLI and the raw API (issue 11):
//! dockerd's status codes and messages, and nothing half-made — after
//! each refusal the sandbox has the same links, addresses, nftables
//! elements, leases and DNS records, containers and networks as before.
//! berthd runs in a sandbox host.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::{code, stderr, Daemon};

/// What a refused request must not change.
#[derive(Debug, PartialEq, Eq)]
struct State {
    links: Vec<String>,
    addrs: Vec<String>,
    firewall: String,
    /// Files of the lease store: IPAM leases and embedded-DNS records.
    leases: Vec<String>,
    containers: String,
    networks: String,
    netns: Vec<String>,
    mounts: Vec<String>,
}

fn files_under(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // The store's own lock, journal and temp files.
        if name.starts_with('.') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            files_under(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
        }
    }
}

fn state(d: &Daemon) -> State {
    let sh = |s: &str| d.host.sh(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let mut links: Vec<String> = sh("ip -o link show")
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect();
    links.sort();
    let mut addrs: Vec<String> = sh("ip -o addr show")
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(1..4).map(|v| v.join(" ")).unwrap_or_default()
        })
        .collect();
    addrs.sort();
    let lease_dir = d.host.dirs().lib.join("network.leases");
    let mut leases = Vec::new();
    files_under(&lease_dir, &lease_dir, &mut leases);
    leases.sort();
    let mut netns: Vec<String> = std::fs::read_dir(d.host.dirs().run.join("netns"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    netns.sort();
    State {
        links,
        addrs,
        // Stateless: counters aside, every set and map element.
        firewall: sh("nft -s list table inet berth"),
        leases,
        containers: d.ok(&["ps", "-a", "--format", "{{.ID}} {{.State}}"]),
        networks: d.ok(&["network", "ls", "-q"]),
        netns,
        mounts: d.berth_mounts(),
    }
}

/// The state equals `before` (bounded wait: the kernel frees the veth of
/// a deleted netns in its own time).
fn assert_unchanged(d: &Daemon, before: &State, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = state(d);
        if &now == before {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(&now, before, "{what} left something behind");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A docker CLI call that must fail with `exit` and say `msg`.
fn refused(d: &Daemon, args: &[&str], exit: i32, msg: &str) {
    let out = d.docker(args);
    assert_eq!(code(&out), exit, "docker {args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains(msg),
        "docker {args:?} said {:?}, want {msg:?}",
        stderr(&out)
    );
}

/// A raw API call that must answer `status` with a message saying `msg`.
fn answers(d: &Daemon, method: &str, path: &str, body: Option<&str>, status: u16, msg: &str) {
    let (got, text) = d.http(method, path, body);
    assert_eq!(got, status, "{method} {path}: {text}");
    assert!(
        text.contains(msg),
        "{method} {path} said {text}, want {msg:?}"
    );
}

#[test]
fn bad_network_input_gets_dockers_errors_and_leaves_nothing() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.70.0.0/24", "n1"]);
    d.ok(&["network", "create", "--subnet", "10.71.0.0/24", "n2"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "holder",
        "--network",
        "n1",
        "--ip",
        "10.70.0.10",
        "busybox",
        "sleep",
        "300",
    ]);
    let before = state(&d);
    assert!(
        before.leases.iter().any(|l| l.contains("10.70.0.10")),
        "the holder's lease is in the snapshot: {:?}",
        before.leases
    );

    // Overlapping subnets: 403, dockerd's IPAM message.
    refused(
        &d,
        &["network", "create", "--subnet", "10.70.0.128/25", "clash"],
        1,
        "Pool overlaps with other one on this address space",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"clash","IPAM":{"Config":[{"Subnet":"10.70.0.0/16"}]}}"#),
        403,
        "Pool overlaps",
    );
    assert_unchanged(&d, &before, "overlapping subnet");

    // Gateway outside the subnet (the docker CLI refuses it itself; the
    // API must too); a subnet with host bits; a bad MTU: 400.
    refused(
        &d,
        &[
            "network",
            "create",
            "--subnet",
            "10.72.0.0/24",
            "--gateway",
            "10.73.0.1",
            "badgw",
        ],
        1,
        "no matching subnet for gateway 10.73.0.1",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(
            r#"{"Name":"badgw","IPAM":{"Config":[{"Subnet":"10.72.0.0/24","Gateway":"10.73.0.1"}]}}"#,
        ),
        400,
        "invalid gateway 10.73.0.1: parent subnet 10.72.0.0/24 doesn't contain this address",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"hostbits","IPAM":{"Config":[{"Subnet":"10.72.0.5/24"}]}}"#),
        400,
        "invalid subnet 10.72.0.5/24: it should be 10.72.0.0/24",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"badmtu","Options":{"com.docker.network.driver.mtu":"10"}}"#),
        400,
        "invalid MTU",
    );
    assert_unchanged(&d, &before, "bad gateway or subnet");

    // Unknown network: 404 everywhere; a run on it fails its start.
    refused(
        &d,
        &["network", "inspect", "nosuch"],
        1,
        "network nosuch not found",
    );
    answers(
        &d,
        "GET",
        "/networks/nosuch",
        None,
        404,
        "network nosuch not found",
    );
    answers(
        &d,
        "DELETE",
        "/networks/nosuch",
        None,
        404,
        "network nosuch not found",
    );
    answers(
        &d,
        "POST",
        "/networks/nosuch/connect",
        Some(r#"{"Container":"holder"}"#),
        404,
        "network nosuch not found",
    );
    refused(
        &d,
        &["run", "--rm", "--network", "nosuch", "busybox", "true"],
        125,
        "network nosuch not found",
    );
    assert_unchanged(&d, &before, "unknown network");

    // --ip outside the subnet: 400 at create, no container made.
    refused(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "n1",
            "--ip",
            "10.99.0.5",
            "busybox",
            "true",
        ],
        125,
        "no configured subnet contains IP address 10.99.0.5",
    );
    answers(
        &d,
        "POST",
        "/containers/create",
        Some(
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"n1"},"NetworkingConfig":{"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.99.0.5"}}}}}"#,
        ),
        400,
        "invalid config for network n1",
    );
    // ... and on connect.
    refused(
        &d,
        &["network", "connect", "--ip", "10.99.0.6", "n2", "holder"],
        1,
        "no configured subnet contains IP address 10.99.0.6",
    );
    assert_unchanged(&d, &before, "--ip outside the subnet");

    // --ip on the default bridge: 400 at create.
    refused(
        &d,
        &["run", "--rm", "--ip", "172.17.0.50", "busybox", "true"],
        125,
        "user-specified IP address is supported on user-defined networks only",
    );
    answers(
        &d,
        "POST",
        "/containers/create",
        Some(
            r#"{"Image":"busybox","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{"IPAMConfig":{"IPv4Address":"172.17.0.50"}}}}}"#,
        ),
        400,
        "user-defined networks only",
    );
    assert_unchanged(&d, &before, "--ip on the default bridge");

    // --ip in use: the start fails with 403 (dockerd's IPAM), the lease
    // stays the holder's and nothing of the attach is left.
    refused(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "n1",
            "--ip",
            "10.70.0.10",
            "busybox",
            "true",
        ],
        125,
        "Address already in use",
    );
    assert_unchanged(&d, &before, "--ip in use (docker run --rm)");
    let (status, body) = d.http(
        "POST",
        "/containers/create?name=taker",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"n1"},"NetworkingConfig":{"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.70.0.10"}}}}}"#),
    );
    assert_eq!(status, 201, "{body}");
    answers(
        &d,
        "POST",
        "/containers/taker/start",
        None,
        403,
        "Address already in use",
    );
    d.ok(&["rm", "taker"]);
    assert_unchanged(&d, &before, "--ip in use (API)");

    // Bad port specs: 400 at create, no container made.
    for bindings in [
        r#"{"80/tcp":[{"HostPort":"99999"}]}"#,
        r#"{"http/tcp":[{"HostPort":"8080"}]}"#,
        r#"{"80/icmp":[{"HostPort":"8080"}]}"#,
        r#"{"80/tcp":[{"HostPort":"9000-8000"}]}"#,
        r#"{"80/tcp":[{"HostIp":"not-an-ip","HostPort":"8080"}]}"#,
    ] {
        let body = format!(
            r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"PortBindings":{bindings}}}}}"#
        );
        let (status, text) = d.http("POST", "/containers/create", Some(&body));
        assert_eq!(status, 400, "{bindings}: {text}");
        assert!(text.contains("invalid"), "{bindings}: {text}");
    }
    refused(
        &d,
        &["run", "--rm", "-p", "99999:80", "busybox", "true"],
        125,
        "invalid",
    );
    assert_unchanged(&d, &before, "bad port spec");

    // Disconnect of a container that is not connected: dockerd's message
    // (and its 500: dockerd does not classify this error).
    refused(
        &d,
        &["network", "disconnect", "n2", "holder"],
        1,
        "is not connected to network n2",
    );
    answers(
        &d,
        "POST",
        "/networks/n2/disconnect",
        Some(r#"{"Container":"holder"}"#),
        500,
        "is not connected to network n2",
    );
    assert_unchanged(&d, &before, "disconnect of a container not connected");

    // The pre-defined networks cannot be removed (403), nor made again.
    for n in ["bridge", "host", "none"] {
        refused(
            &d,
            &["network", "rm", n],
            1,
            &format!("{n} is a pre-defined network and cannot be removed"),
        );
        answers(
            &d,
            "DELETE",
            &format!("/networks/{n}"),
            None,
            403,
            "pre-defined network",
        );
        answers(
            &d,
            "POST",
            "/networks/create",
            Some(&format!(r#"{{"Name":"{n}"}}"#)),
            403,
            &format!("operation is not permitted on predefined {n} network"),
        );
    }
    assert_unchanged(&d, &before, "removal of a pre-defined network");

    // A network in use: 403 naming its endpoints, as dockerd.
    refused(
        &d,
        &["network", "rm", "n1"],
        1,
        "network n1 has active endpoints",
    );
    // (JSON-escaped quotes in the body)
    answers(
        &d,
        "DELETE",
        "/networks/n1",
        None,
        403,
        r#"name:\"holder\""#,
    );
    assert_unchanged(&d, &before, "removal of a network in use");

    // Duplicate name: 409; unknown driver: 404.
    refused(
        &d,
        &["network", "create", "n2"],
        1,
        "network with name n2 already exists",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"n2"}"#),
        409,
        "already exists",
    );
    refused(
        &d,
        &["network", "create", "-d", "nosuchdrv", "x"],
        1,
        "plugin \"nosuchdrv\" not found",
    );
    answers(
        &d,
        "POST",
        "/networks/create",
        Some(r#"{"Name":"x","Driver":"nosuchdrv"}"#),
        404,
        "not found",
    );
    assert_unchanged(&d, &before, "duplicate name or bad driver");

    // Everything still works after all that.
    d.ok(&["network", "connect", "n2", "holder"]);
    d.ok(&["network", "disconnect", "n2", "holder"]);
    d.ok(&["rm", "-f", "holder"]);
    d.ok(&["network", "rm", "n1", "n2"]);
}
