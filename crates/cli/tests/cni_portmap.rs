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
