//! Addressing of user-defined networks through the real docker CLI
//! (issue 11): IPv6 networks (`--ipv6`, `--ip6`, AAAA in the embedded
//! DNS), `--aux-address`, `--mac-address`. berthd runs in a sandbox host.

mod docker_support;

use docker_support::{code, retry, run_on, stderr, Daemon};

#[test]
fn ipv6_network_addresses_ping_fetch_and_aaaa() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.80.0.0/24",
        "--subnet",
        "fd00:80::/64",
        "v6net",
    ]);
    let ipam = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}},{{.Gateway}} {{end}}",
        "v6net",
    ]);
    assert_eq!(
        ipam.trim(),
        "true 10.80.0.0/24,10.80.0.1 fd00:80::/64,fd00:80::1"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "v6net",
        "--ip6",
        "fd00:80::50",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo over-v6 > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let f = "{{with index .NetworkSettings.Networks \"v6net\"}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAddress}}{{end}}";
    assert_eq!(d.inspect("web6", f), "fd00:80::50/64 fd00:80::1 10.80.0.2");
    let listed = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .Containers}}{{.Name}} {{.IPv6Address}}{{end}}",
        "v6net",
    ]);
    assert_eq!(listed.trim(), "web6 fd00:80::50/64");

    // A second container (dynamic v6 address) pings and fetches over v6,
    // and the embedded DNS answers AAAA with web6's v6 address.
    let (c, out) = retry(
        20,
        || {
            run_on(&d, "v6net", &[],
            "ip -6 addr show dev eth0 | grep -q 'fd00:80::2/64' || exit 3; \
             ping -6 -c 1 -W 2 fd00:80::50 >/dev/null || exit 4; \
             unset http_proxy HTTP_PROXY; timeout 5 wget -Y off -qO- 'http://[fd00:80::50]/' || exit 5; \
             nslookup -type=aaaa web6 || exit 6; exit 0",
        )
        },
        |r| r.0 == 0,
    );
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("over-v6"), "{out}");
    assert!(out.contains("Address: fd00:80::50"), "{out}");
    // And A still answers with the v4 address.
    let (c, out) = run_on(&d, "v6net", &[], "nslookup -type=a web6; exit $?");
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("Address: 10.80.0.2"), "{out}");

    // --ip6 already in use, outside the subnet, or on a network without IPv6.
    let taken = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        "--ip6",
        "fd00:80::50",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&taken), 0);
    assert!(
        stderr(&taken).contains("Address already in use"),
        "{}",
        stderr(&taken)
    );
    let outside = d.docker(&[
        "run",
        "--rm",
        "--network",
        "v6net",
        "--ip6",
        "fd00:99::5",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&outside), 0);
    assert!(
        stderr(&outside).contains("no configured subnet contains IP address fd00:99::5"),
        "{}",
        stderr(&outside)
    );
    // Overlapping v6 subnets and a v6 gateway outside the subnet: refused, nothing made.
    let overlap = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.81.0.0/24",
        "--subnet",
        "fd00:80::/48",
        "clash6",
    ]);
    assert_ne!(code(&overlap), 0);
    assert!(
        stderr(&overlap).contains("Pool overlaps"),
        "{}",
        stderr(&overlap)
    );
    let badgw = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:82::/64",
        "--gateway",
        "fd00:83::1",
        "--subnet",
        "10.82.0.0/24",
        "badgw6",
    ]);
    assert_ne!(code(&badgw), 0);
    assert!(
        stderr(&badgw).contains("no matching subnet for gateway fd00:83::1"),
        "{}",
        stderr(&badgw)
    );
    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !names.contains("clash6") && !names.contains("badgw6"),
        "{names}"
    );
    d.ok(&["rm", "-f", "web6"]);
    d.ok(&["network", "rm", "v6net"]);
}

#[test]
fn aux_addresses_are_never_handed_out_and_mac_addresses_are_set() {
    let d = Daemon::start();
    d.load_busybox();
    // A /29 has .1 (gateway) to .6: with .2 and .3 reserved, the first
    // two containers get .4 and .5.
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.84.0.0/29",
        "--aux-address",
        "router=10.84.0.2",
        "--aux-address",
        "printer=10.84.0.3",
        "auxnet",
    ]);
    let aux = d.ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{range $k, $v := .AuxiliaryAddresses}}{{$k}}={{$v}} {{end}}{{end}}",
        "auxnet",
    ]);
    assert_eq!(aux.trim(), "printer=10.84.0.3 router=10.84.0.2");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "a1",
        "--network",
        "auxnet",
        "--mac-address",
        "02:42:0a:54:00:aa",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "a2",
        "--network",
        "auxnet",
        "busybox",
        "sleep",
        "300",
    ]);
    let f =
        "{{with index .NetworkSettings.Networks \"auxnet\"}}{{.IPAddress}} {{.MacAddress}}{{end}}";
    assert_eq!(d.inspect("a1", f), "10.84.0.4 02:42:0a:54:00:aa");
    assert!(d.inspect("a2", f).starts_with("10.84.0.5 "));
    let inside = d.ok(&["exec", "a1", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(inside.trim(), "02:42:0a:54:00:aa");
    // The reserved addresses cannot be asked for with --ip either.
    let reserved = d.docker(&[
        "run",
        "--rm",
        "--network",
        "auxnet",
        "--ip",
        "10.84.0.2",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&reserved), 0);
    assert!(
        stderr(&reserved).contains("Address already in use"),
        "{}",
        stderr(&reserved)
    );

    // A MAC address on network connect of a running container (the docker
    // CLI has no flag for it; the API's EndpointConfig.MacAddress).
    d.ok(&["network", "create", "--subnet", "10.85.0.0/24", "second"]);
    let (status, body) = d.http(
        "POST",
        "/networks/second/connect",
        Some(r#"{"Container":"a2","EndpointConfig":{"MacAddress":"02:42:0a:55:00:bb"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let f2 = "{{(index .NetworkSettings.Networks \"second\").MacAddress}}";
    assert_eq!(d.inspect("a2", f2), "02:42:0a:55:00:bb");
    let inside = d.ok(&["exec", "a2", "cat", "/sys/class/net/eth1/address"]);
    assert_eq!(inside.trim(), "02:42:0a:55:00:bb");

    // Bad values: a bad MAC, an aux address outside the subnet, a reused one.
    let badmac = d.docker(&[
        "run",
        "--rm",
        "--network",
        "auxnet",
        "--mac-address",
        "02:42:zz:00:00:01",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&badmac), 0);
    assert!(
        stderr(&badmac).contains("02:42:zz:00:00:01"),
        "{}",
        stderr(&badmac)
    );
    let outside = d.docker(&[
        "network",
        "create",
        "--subnet",
        "10.86.0.0/24",
        "--aux-address",
        "x=10.99.0.2",
        "auxbad",
    ]);
    assert_ne!(code(&outside), 0);
    assert!(
        stderr(&outside).contains("no matching subnet for aux-address 10.99.0.2"),
        "{}",
        stderr(&outside)
    );
    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!names.contains("auxbad"), "{names}");

    // Removing the network frees its reservations: made again, .2 is free for --ip.
    d.ok(&["rm", "-f", "a1", "a2"]);
    d.ok(&["network", "rm", "auxnet", "second"]);
    d.ok(&["network", "create", "--subnet", "10.84.0.0/29", "auxnet"]);
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "auxnet",
        "--ip",
        "10.84.0.2",
        "busybox",
        "true",
    ]);
    d.ok(&["network", "rm", "auxnet"]);
}
