//! berthd's embedded DNS (issue 11) through the real docker CLI: containers
//! on user-defined networks get `nameserver 127.0.0.11`, served by the
//! daemon's one resolver through sockets in each container's netns; names,
//! aliases and reverse names of shared networks only, UDP and TCP,
//! forwarding to a resolver the test runs in the sandbox (the host's
//! servers from the daemon's netns, `--dns` from the container's), the
//! sockets gone with the container, and back after kill -9 of berthd.

mod docker_support;

use std::collections::HashSet;

use docker_support::{retry, run_on, Daemon};

/// A DNS responder on the sandbox's 0.0.0.0:53, UDP and TCP. An A query
/// gets 192.0.2.123 when it comes from the sandbox's own loopback (the
/// daemon's netns) and 192.0.2.124 from elsewhere (a container's netns);
/// names under `nx.example` and other types get NXDOMAIN. Logs
/// `udp|tcp NAME` per query to the file given as its argument.
const FAKE_RESOLVER: &str = r#"
import socket, struct, sys, threading
log = open(sys.argv[1], 'a', buffering=1)
def reply(q, peer, proto):
    i, labels = 12, []
    while q[i] != 0:
        labels.append(q[i + 1:i + 1 + q[i]].decode())
        i += q[i] + 1
    qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
    name = '.'.join(labels)
    log.write(proto + ' ' + name + '\n')
    end = i + 5
    if name.endswith('nx.example') or qtype != 1:
        return q[:2] + b'\x81\x83' + q[4:6] + b'\x00\x00\x00\x00\x00\x00' + q[12:end]
    last = 123 if peer.startswith('127.') else 124
    r = q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + q[12:end]
    return r + b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([192, 0, 2, last])
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 53))
    while True:
        q, a = s.recvfrom(512)
        s.sendto(reply(q, a[0], 'udp'), a)
def conn(c, a):
    with c:
        while True:
            l = c.recv(2, socket.MSG_WAITALL)
            if len(l) < 2:
                return
            q = c.recv(struct.unpack('>H', l)[0], socket.MSG_WAITALL)
            r = reply(q, a[0], 'tcp')
            c.sendall(struct.pack('>H', len(r)) + r)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('0.0.0.0', 53))
t.listen(16)
threading.Thread(target=udp, daemon=True).start()
while True:
    c, a = t.accept()
    threading.Thread(target=conn, args=(c, a), daemon=True).start()
"#;

/// `dig ARGS` from the sandbox host, inside the netns of process `pid`.
fn dig_in(d: &Daemon, pid: &str, args: &str) -> String {
    d.host
        .sh(&format!(
            "nsenter --net=/proc/{pid}/ns/net dig +time=5 +tries=1 @127.0.0.11 {args}"
        ))
        .unwrap_or_else(|e| format!("dig failed: {e}"))
}

/// The inodes of the sockets bound to 127.0.0.11:53 (UDP and TCP) in the
/// netns of process `pid`.
fn resolver_sockets(d: &Daemon, pid: &str) -> Vec<String> {
    let tables = d
        .host
        .sh(&format!(
            "nsenter --net=/proc/{pid}/ns/net cat /proc/net/udp /proc/net/tcp"
        ))
        .expect("socket tables");
    tables
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local_address is 0B00007F:0035 (127.0.0.11:53); inode is field 9.
            (f.get(1) == Some(&"0B00007F:0035")).then(|| f.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

/// The socket inodes berthd holds open.
fn berthd_sockets(d: &Daemon) -> HashSet<String> {
    std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect()
}

#[test]
fn embedded_dns_on_127_0_0_11() {
    let mut d = Daemon::start();
    d.load_busybox();
    // The sandbox host's resolv.conf (its own mount namespace): the test's
    // resolver on loopback; berthd reads it at start.
    let root = d.host.root().to_path_buf();
    let log = root.join("resolver.log");
    d.host
        .sh(&format!(
            "printf 'nameserver 127.0.0.1\\nsearch test.internal\\noptions edns0\\n' > {r}/resolv.conf && mount --bind {r}/resolv.conf /etc/resolv.conf",
            r = root.display()
        ))
        .expect("sandbox resolv.conf");
    d.restart();
    let mut resolver = d
        .host
        .spawn(
            std::process::Command::new("python3")
                .args(["-c", FAKE_RESOLVER])
                .arg(&log)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null()),
        )
        .expect("fake resolver");
    d.ok(&["network", "create", "--subnet", "10.70.0.0/24", "dnsnet"]);
    d.ok(&["network", "create", "--subnet", "10.71.0.0/24", "elsewhere"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "dnsnet",
        "--network-alias",
        "site",
        "busybox",
        "sleep",
        "1000",
    ]);
    let web_ip = d.inspect(
        "web",
        "{{(index .NetworkSettings.Networks \"dnsnet\").IPAddress}}",
    );
    let web_short = d.inspect("web", "{{.Id}}")[..12].to_owned();
    let web_pid = d.inspect("web", "{{.State.Pid}}");

    // resolv.conf: the embedded DNS only, the host's search and options,
    // and Docker's ndots:0.
    let (_, conf) = run_on(&d, "dnsnet", &[], "cat /etc/resolv.conf");
    let lines: Vec<&str> = conf.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 127.0.0.11"), "{conf}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("nameserver")).count(),
        1,
        "{conf}"
    );
    assert!(lines.contains(&"search test.internal"), "{conf}");
    assert!(lines.contains(&"options edns0 ndots:0"), "{conf}");
    // --dns, --dns-search, --dns-option: the servers become upstreams.
    let (_, conf) = run_on(
        &d,
        "dnsnet",
        &[
            "--dns",
            "10.70.0.1",
            "--dns-search",
            "a.example",
            "--dns-option",
            "ndots:3",
        ],
        "cat /etc/resolv.conf",
    );
    let lines: Vec<&str> = conf.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 127.0.0.11"), "{conf}");
    assert!(!lines.contains(&"nameserver 10.70.0.1"), "{conf}");
    assert!(lines.contains(&"search a.example"), "{conf}");
    assert!(lines.contains(&"options ndots:3"), "{conf}");

    // Name, alias, short id and name.network resolve through 127.0.0.11.
    for name in ["web", "site", web_short.as_str(), "web.dnsnet"] {
        let (c, out) = run_on(
            &d,
            "dnsnet",
            &[],
            &format!("nslookup -type=a {name} 127.0.0.11; exit $?"),
        );
        assert_eq!(c, 0, "{name}: {out}");
        assert!(out.contains(&format!("Address: {web_ip}")), "{name}: {out}");
    }
    // Reverse lookup of a container on the network.
    let (c, out) = run_on(&d, "dnsnet", &[], &format!("nslookup {web_ip}; exit $?"));
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("web.dnsnet"), "{out}");
    // The running container itself, over TCP and UDP (dig from the host
    // side, in its netns), PTR too.
    let tcp = dig_in(&d, &web_pid, "+tcp +short site");
    assert_eq!(tcp.trim(), web_ip, "{tcp}");
    let ptr = dig_in(&d, &web_pid, &format!("+short -x {web_ip}"));
    assert_eq!(ptr.trim(), "web.dnsnet.", "{ptr}");
    let ptr_tcp = dig_in(&d, &web_pid, &format!("+tcp +short -x {web_ip}"));
    assert_eq!(ptr_tcp.trim(), "web.dnsnet.", "{ptr_tcp}");

    // Other names go to the host's server, asked from the daemon's netns
    // (192.0.2.123), over the client's transport; its NXDOMAIN comes back.
    let (c, out) = run_on(
        &d,
        "dnsnet",
        &[],
        "nslookup -type=a outside.example; exit $?",
    );
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("192.0.2.123"), "{out}");
    let fwd_tcp = dig_in(&d, &web_pid, "+tcp +short tcp.example");
    assert_eq!(fwd_tcp.trim(), "192.0.2.123", "{fwd_tcp}");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.lines().any(|l| l == "tcp tcp.example"), "{logged}");
    let nx = dig_in(&d, &web_pid, "nosuch.nx.example");
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    // A container's --dns server is its upstream, asked from its netns
    // (so the resolver sees the container's address: 192.0.2.124).
    let (c, out) = run_on(
        &d,
        "dnsnet",
        &["--dns", "10.70.0.1"],
        "nslookup -type=a via-dns.example; exit $?",
    );
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("192.0.2.124"), "{out}");

    // Another network: its containers learn nothing of dnsnet's.
    let (_, out) = run_on(
        &d,
        "elsewhere",
        &[],
        &format!("nslookup -type=a web; nslookup {web_ip}; exit 0"),
    );
    assert!(!out.contains(&format!("Address: {web_ip}")), "{out}");
    assert!(!out.contains("web.dnsnet"), "{out}");

    // The sockets in web's netns are berthd's.
    let socks = resolver_sockets(&d, &web_pid);
    assert_eq!(socks.len(), 2, "UDP and TCP on 127.0.0.11:53: {socks:?}");
    let held = berthd_sockets(&d);
    assert!(
        socks.iter().all(|s| held.contains(s)),
        "{socks:?} not berthd's"
    );

    // kill -9 of berthd: the next one opens them again; web still resolves.
    d.kill9();
    d.restart();
    assert_eq!(d.inspect("web", "{{.State.Running}}"), "true");
    let again = dig_in(&d, &web_pid, "+short site");
    assert_eq!(again.trim(), web_ip, "after restart: {again}");
    let again_tcp = dig_in(&d, &web_pid, "+tcp +short web");
    assert_eq!(again_tcp.trim(), web_ip, "after restart: {again_tcp}");
    let socks = resolver_sockets(&d, &web_pid);
    assert_eq!(socks.len(), 2, "after restart: {socks:?}");
    let held = berthd_sockets(&d);
    assert!(
        socks.iter().all(|s| held.contains(s)),
        "{socks:?} not berthd's"
    );

    // After the container goes, its sockets are closed and its name is gone.
    d.ok(&["rm", "-f", "web"]);
    assert!(
        retry(
            10,
            || {
                let held = berthd_sockets(&d);
                !socks.iter().any(|s| held.contains(s))
            },
            |gone| *gone
        ),
        "berthd still holds the removed container's resolver sockets {socks:?}"
    );
    let (_, out) = run_on(&d, "dnsnet", &[], "nslookup -type=a web; exit 0");
    assert!(!out.contains(&format!("Address: {web_ip}")), "{out}");

    let _ = resolver.kill();
    let _ = resolver.wait();
    d.ok(&["network", "rm", "dnsnet", "elsewhere"]);
    let links = d.host.sh("ip -o link show").expect("links");
    assert!(
        retry(
            10,
            || !d
                .host
                .sh("ip -o link show")
                .unwrap_or_default()
                .contains("veth"),
            |gone| *gone
        ),
        "veth left behind:\n{links}"
    );
    assert_eq!(d.berth_mounts(), Vec::<String>::new(), "mounts left behind");
}

#[test]
fn internal_network_names_only() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.72.0.0/24",
        "inner",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "inner",
        "busybox",
        "sleep",
        "1000",
    ]);
    let db_ip = d.inspect(
        "db",
        "{{(index .NetworkSettings.Networks \"inner\").IPAddress}}",
    );
    let (c, out) = run_on(&d, "inner", &[], "nslookup -type=a db; exit $?");
    assert_eq!(c, 0, "{out}");
    assert!(out.contains(&format!("Address: {db_ip}")), "{out}");
    // Nothing is forwarded for a container with no way out: SERVFAIL at once.
    let pid = d.inspect("db", "{{.State.Pid}}");
    let out = dig_in(&d, &pid, "outside.example");
    assert!(out.contains("status: SERVFAIL"), "{out}");
    d.ok(&["rm", "-f", "db"]);
    d.ok(&["network", "rm", "inner"]);
}
