//! berth-portmap chained after berth-bridge, end to end as root in a
//! sandbox host: a busybox httpd in a container answers a wget to the
//! sandbox host's own address and published port (from the host and from
//! another container); CHECK sees a removed mapping; DEL and GC remove
//! mappings.

mod cni_support;

use std::process::{Child, Command, Stdio};

use berth_cni::types::NetConfList;
use cni_support::CniEnv;
use serde_json::json;

/// The address the sandbox host answers on (on its lo), standing for a
/// host's external address.
const HOST_IP: &str = "10.99.0.1";

fn chain(env: &CniEnv, br: &str, subnet: &str) -> NetConfList {
    let p = env.conf(
        "pm.conflist",
        &json!({
            "cniVersion": "1.1.0",
            "name": "pmnet",
            "plugins": [
                {"type": "berth-bridge", "bridge": br, "isGateway": true, "isDefaultGateway": true,
                 "ipMasq": true, "hairpinMode": true,
                 "ipam": {"type": "berth-host-local", "subnet": subnet,
                          "dataDir": env.ipam_dir().to_string_lossy()}},
                {"type": "berth-portmap", "capabilities": {"portMappings": true},
                 "dataDir": env.host.dirs().lib.join("portmap").to_string_lossy()}
            ]
        }),
    );
    NetConfList::load(&p).expect("load")
}

/// Kills the httpd on every path out of the test.
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn httpd(env: &CniEnv, ns: &std::path::Path, body: &str) -> Server {
    let dir = env.host.root().join("www");
    std::fs::create_dir_all(&dir).expect("www");
    std::fs::write(dir.join("index.html"), body).expect("index");
    let child = env
        .host
        .spawn(
            Command::new("nsenter")
                .arg(format!("--net={}", ns.display()))
                .args(["busybox", "httpd", "-f", "-p", "80", "-h"])
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("httpd");
    let server = Server(child);
    // Wait until it listens (a readiness poll, not a timing assertion).
    env.in_ns(
        ns,
        "for i in $(seq 1 200); do busybox netstat -ltn | grep -q ':80 ' && exit 0; busybox usleep 10000; done; exit 1",
    );
    server
}

/// `busybox wget` with no proxy variables (and no `-T`, which crashes
/// Debian's busybox-static wget; `timeout` bounds it instead), from a shell `prefix` (e.g. an
/// nsenter into a container); returns the body or None.
fn wget(env: &CniEnv, prefix: &str, url: &str) -> Option<String> {
    let o = env
        .host
        .output(Command::new("sh").arg("-c").arg(format!(
            "{prefix} env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin timeout 10 busybox wget -q -O - {url}"
        )))
        .expect("wget");
    if !o.status.success() {
        eprintln!(
            "wget {url} from {prefix:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn published_port_reaches_httpd_and_goes_away_on_del() {
    let env = CniEnv::new();
    env.host
        .sh(&format!("ip addr add {HOST_IP}/32 dev lo"))
        .expect("host address");
    let l = chain(&env, "pbr0", "10.81.1.0/24");
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    let mut a1 = CniEnv::attachment("c1", &ns1, "eth0");
    a1.capability_args.insert(
        "portMappings".into(),
        json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
    );
    let a2 = CniEnv::attachment("c2", &ns2, "eth0");
    let r1 = env.with_client(|c| c.add(&l, &a1)).expect("ADD c1");
    env.with_client(|c| c.add(&l, &a2)).expect("ADD c2");
    // portmap passed the bridge's result through.
    assert_eq!(r1.interfaces.len(), 3);
    let _server = httpd(&env, &ns1, "hello from berth");

    let url = format!("http://{HOST_IP}:8080/");
    assert_eq!(
        wget(&env, "", &url).as_deref(),
        Some("hello from berth"),
        "from the host"
    );
    let in_c2 = format!("nsenter --net={}", ns2.display());
    assert_eq!(
        wget(&env, &in_c2, &url).as_deref(),
        Some("hello from berth"),
        "from another container"
    );
    // Hairpin: the container reaches itself through its published port.
    let in_c1 = format!("nsenter --net={}", ns1.display());
    assert_eq!(
        wget(&env, &in_c1, &url).as_deref(),
        Some("hello from berth"),
        "hairpin"
    );

    env.with_client(|c| c.check(&l, &a1)).expect("CHECK");
    env.host
        .sh("nft delete element inet berth dnat4_any '{ tcp . 8080 }'")
        .expect("remove mapping");
    let e = env
        .with_client(|c| c.check(&l, &a1))
        .expect_err("CHECK without the mapping");
    assert!(e.to_string().contains("8080"), "{e}");
    env.host
        .sh(&format!(
            "nft add element inet berth dnat4_any '{{ tcp . 8080 : {} . 80 }}'",
            r1.ips[0].address.addr()
        ))
        .expect("restore mapping");

    env.with_client(|c| c.del(&l, &a1)).expect("DEL");
    let nft = env.host.sh("nft list table inet berth").expect("nft");
    assert!(!nft.contains("8080"), "mapping left after DEL:\n{nft}");
    assert_eq!(wget(&env, "", &url), None, "port still answers after DEL");
    env.with_client(|c| c.del(&l, &a1)).expect("second DEL");
}

#[test]
fn portmap_gc_unpublishes_stale_attachments() {
    let env = CniEnv::new();
    let l = chain(&env, "pbr1", "10.81.2.0/24");
    let ns1 = env.netns("c1");
    let ns2 = env.netns("c2");
    for (cid, ns, port) in [("c1", &ns1, 8081), ("c2", &ns2, 8082)] {
        let mut a = CniEnv::attachment(cid, ns, "eth0");
        a.capability_args.insert(
            "portMappings".into(),
            json!([{"hostPort": port, "containerPort": 80}]),
        );
        env.with_client(|c| c.add(&l, &a)).expect("ADD");
    }
    // GC of the portmap plugin alone, keeping c1.
    let mut conf = l.plugins[1].raw.clone();
    conf.insert("name".into(), json!("pmnet"));
    conf.insert("cniVersion".into(), json!("1.1.0"));
    conf.insert(
        "cni.dev/valid-attachments".into(),
        json!([{"containerID": "c1", "ifname": "eth0"}]),
    );
    let o = env.invoke(
        &env.plugin("berth-portmap"),
        &[("CNI_COMMAND", "GC")],
        &serde_json::to_vec(&conf).expect("json"),
    );
    assert!(
        o.status.success(),
        "GC: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let nft = env.host.sh("nft list table inet berth").expect("nft");
    assert!(nft.contains("8081"), "GC removed a valid mapping:\n{nft}");
    assert!(!nft.contains("8082"), "GC left a stale mapping:\n{nft}");
}

#[test]
fn portmap_needs_a_previous_result_and_rejects_a_taken_port() {
    let env = CniEnv::new();
    let ns = env.netns("c1");
    let nss = ns.to_string_lossy().into_owned();
    let vars = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", nss.as_str()),
        ("CNI_IFNAME", "eth0"),
    ];
    let conf = json!({
        "cniVersion": "1.1.0", "name": "pmnet", "type": "berth-portmap",
        "dataDir": env.host.dirs().lib.join("portmap").to_string_lossy(),
        "runtimeConfig": {"portMappings": [{"hostPort": 9090, "containerPort": 80}]}
    });
    let o = env.invoke(
        &env.plugin("berth-portmap"),
        &vars,
        &serde_json::to_vec(&conf).expect("json"),
    );
    let v = cni_support::json_out(&o);
    assert_eq!(v["code"], 7, "{v}");
    assert!(
        v["msg"].as_str().unwrap_or("").contains("prevResult"),
        "{v}"
    );

    // Two containers asking for the same host port: the second is refused
    // and leaves nothing (its bridge attachment is undone by the client).
    let l = chain(&env, "pbr2", "10.81.3.0/24");
    let ns2 = env.netns("c2");
    let ns3 = env.netns("c3");
    let mut a2 = CniEnv::attachment("c2", &ns2, "eth0");
    a2.capability_args.insert(
        "portMappings".into(),
        json!([{"hostPort": 9091, "containerPort": 80}]),
    );
    let mut a3 = CniEnv::attachment("c3", &ns3, "eth0");
    a3.capability_args = a2.capability_args.clone();
    env.with_client(|c| c.add(&l, &a2)).expect("ADD c2");
    let e = env
        .with_client(|c| c.add(&l, &a3))
        .expect_err("same host port twice");
    assert!(e.to_string().contains("already published"), "{e}");
    assert!(!env.has_link(&ns3, "eth0"), "refused ADD left a link");
    let nft = env.host.sh("nft list table inet berth").expect("nft");
    assert!(nft.contains("9091"), "the first mapping was lost:\n{nft}");
}

/// `route_localnet` of `dev` in the sandbox host.
fn route_localnet(env: &CniEnv, dev: &str) -> String {
    env.host
        .sh(&format!("cat /proc/sys/net/ipv4/conf/{dev}/route_localnet"))
        .expect("route_localnet")
        .trim()
        .to_string()
}

/// The same conflist with the reference bridge and portmap plugins.
fn reference_chain(env: &CniEnv, br: &str, subnet: &str) -> NetConfList {
    let p = env.conf(
        "ref.conflist",
        &json!({
            "cniVersion": "1.0.0",
            "name": "refpm",
            "plugins": [
                {"type": "bridge", "bridge": br, "isGateway": true, "ipMasq": true,
                 "ipam": {"type": "host-local", "subnet": subnet,
                          "dataDir": env.ipam_dir().join("ref").to_string_lossy(),
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
            ]
        }),
    );
    NetConfList::load(&p).expect("load")
}

/// A published port answers on 127.0.0.1 from the host, as with the
/// reference bridge + portmap chain (run first as the differential), and
/// stops answering after DEL. `[::1]` answers neither: the kernel has no
/// `route_localnet` for IPv6.
#[test]
fn published_port_answers_on_localhost_like_the_reference() {
    let env = CniEnv::new();
    let ports = json!([{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]);
    let url = "http://127.0.0.1:18080/";

    // The reference chain first: it must answer on 127.0.0.1 here too, else
    // the comparison says nothing.
    let r = reference_chain(&env, "refbr9", "10.81.9.0/24");
    let ns0 = env.netns("r1");
    let mut a0 = CniEnv::attachment("r1", &ns0, "eth0");
    a0.capability_args
        .insert("portMappings".into(), ports.clone());
    env.with_client(|c| c.add(&r, &a0)).expect("reference ADD");
    {
        let _server = httpd(&env, &ns0, "hello from the reference");
        assert_eq!(
            wget(&env, "", url).as_deref(),
            Some("hello from the reference"),
            "the reference chain answers on 127.0.0.1"
        );
        assert_eq!(route_localnet(&env, "refbr9"), "1");
    }
    env.with_client(|c| c.del(&r, &a0)).expect("reference DEL");

    let l = chain(&env, "pbr9", "10.81.8.0/24");
    let ns1 = env.netns("c1");
    let mut a1 = CniEnv::attachment("c1", &ns1, "eth0");
    a1.capability_args.insert("portMappings".into(), ports);
    env.with_client(|c| c.add(&l, &a1)).expect("ADD");
    assert_eq!(
        route_localnet(&env, "pbr9"),
        "1",
        "route_localnet on the bridge"
    );
    let _server = httpd(&env, &ns1, "hello from berth on localhost");
    assert_eq!(
        wget(&env, "", url).as_deref(),
        Some("hello from berth on localhost"),
        "berth answers on 127.0.0.1"
    );
    // Another loopback address works the same way (127.0.0.0/8).
    assert_eq!(
        wget(&env, "", "http://127.0.0.2:18080/").as_deref(),
        Some("hello from berth on localhost"),
        "127.0.0.2"
    );
    assert_eq!(
        wget(&env, "", "http://[::1]:18080/"),
        None,
        "[::1] is not published (no IPv6 route_localnet)"
    );
    env.with_client(|c| c.del(&l, &a1)).expect("DEL");
    assert_eq!(wget(&env, "", url), None, "port still answers after DEL");
}

/// With `route_localnet` on a bridge, a container that routes 127.0.0.1
/// through its gateway would reach services bound to the host's loopback
/// (CVE-2020-8558). berth's table drops that; the test also shows that the
/// drop rule is what stops it.
#[test]
fn container_cannot_reach_host_loopback_through_the_bridge() {
    let env = CniEnv::new();
    let l = chain(&env, "pbr8", "10.81.7.0/24");
    let ns1 = env.netns("c1");
    let mut a1 = CniEnv::attachment("c1", &ns1, "eth0");
    a1.capability_args.insert(
        "portMappings".into(),
        json!([{"hostPort": 18081, "containerPort": 80}]),
    );
    let r = env.with_client(|c| c.add(&l, &a1)).expect("ADD");
    assert_eq!(route_localnet(&env, "pbr8"), "1");
    let gw = r.ips[0].gateway.expect("gateway");

    // A service on the host's loopback only.
    let dir = env.host.root().join("secret");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("index.html"), "host loopback secret").expect("index");
    let child = env
        .host
        .spawn(
            Command::new("busybox")
                .args(["httpd", "-f", "-p", "127.0.0.1:19999", "-h"])
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("httpd");
    let _server = Server(child);
    env.host
        .sh("for i in $(seq 1 200); do busybox netstat -ltn | grep -q '127.0.0.1:19999 ' && exit 0; busybox usleep 10000; done; exit 1")
        .expect("host httpd listens");
    assert_eq!(
        wget(&env, "", "http://127.0.0.1:19999/").as_deref(),
        Some("host loopback secret"),
        "the service answers on the host"
    );

    // The container sends 127.0.0.1 out of eth0 to its gateway.
    env.in_ns(
        &ns1,
        &format!(
            "ip route del local 127.0.0.1 dev lo table local; \
             ip route del local 127.0.0.0/8 dev lo table local; \
             sysctl -qw net.ipv4.conf.eth0.route_localnet=1; \
             ip route add 127.0.0.1/32 via {gw} dev eth0"
        ),
    );
    let in_c1 = format!("nsenter --net={}", ns1.display());
    assert_eq!(
        wget(&env, &in_c1, "http://127.0.0.1:19999/"),
        None,
        "a container reached the host's loopback"
    );
    // Without berth's input rule the same request gets through, so the
    // rule is what stopped it.
    env.host
        .sh("nft flush chain inet berth input")
        .expect("flush input");
    let through = wget(&env, &in_c1, "http://127.0.0.1:19999/");
    env.with_client(|c| c.del(&l, &a1)).expect("DEL");
    assert_eq!(
        through.as_deref(),
        Some("host loopback secret"),
        "without the rule the request is expected to get through"
    );
}
