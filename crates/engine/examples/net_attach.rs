//! Times berthd's in-process attach and detach (the bridge driver, as the
//! engine calls it), for bench/engine-net.sh. Run as root inside a sandbox
//! host (a netns of its own): it makes a network, container netns and
//! rules there.
//!
//! usage: net_attach STATE_DIR RUNS
//! Prints one line per measurement: `NAME median_ms p90_ms runs`.

use std::path::PathBuf;
use std::time::Instant;

use berth_engine::network::bridge::BridgeDriver;
use berth_engine::network::{
    create_netns, remove_netns, EndpointConfig, NetworkAttacher, NetworkCreate,
};

fn stats(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!("{name} {:.3} {:.3} {}", at(0.5), at(0.9), v.len());
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: net_attach STATE_DIR RUNS"))?,
    );
    let runs: usize = args.next().unwrap_or_else(|| "30".into()).parse()?;
    std::fs::create_dir_all(dir.join("netns"))?;
    let driver = BridgeDriver::open_at(&dir.join("network.db"), Some("10.250.0.1/16"))?;
    driver.create_network(&NetworkCreate {
        name: "benchnet".into(),
        driver: "bridge".into(),
        subnet: Some("10.251.0.0/16".into()),
        ..Default::default()
    })?;
    let cfg = |id: &str, network: &str| EndpointConfig {
        container_id: id.into(),
        container_name: id.into(),
        network: network.into(),
        aliases: Vec::new(),
        ports: Vec::new(),
        ifname: "eth0".into(),
        ipv4: None,
        ipv6: None,
        mac: None,
        dns: Vec::new(),
        ndots_set: false,
        links: Default::default(),
    };
    // An anchor on each network: every timed attach finds the bridge and
    // its rules in place, as in steady state.
    let mut anchors = Vec::new();
    for net in ["bridge", "benchnet"] {
        let id = format!("anchor-{net}");
        let ns = create_netns(&dir.join("netns"), &id)?;
        let ep = driver.attach(&ns, &cfg(&id, net))?;
        anchors.push((ns, cfg(&id, net), ep));
    }
    for net in ["bridge", "benchnet"] {
        // 1. attach + detach on an existing netns (detach deletes the link,
        //    as `network disconnect`), like CNI ADD+DEL on an existing netns.
        let ns = create_netns(&dir.join("netns"), "timed")?;
        let c = cfg("timed", net);
        let mut t = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let ep = driver.attach(&ns, &c)?;
            driver.disconnect(&ns, &c, &ep)?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        remove_netns(&ns)?;
        stats(&format!("berth-{net}-attach+detach-existing-netns"), t);
        // 2. What a container start and stop cost berthd's networking:
        //    netns made, attach, release, netns deleted (the kernel frees the veth).
        let mut t = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let ns = create_netns(&dir.join("netns"), "fresh")?;
            let ep = driver.attach(&ns, &c)?;
            driver.detach(&ns, &c, &ep)?;
            remove_netns(&ns)?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        stats(&format!("berth-{net}-netns+attach+detach+netns-delete"), t);
    }
    for (ns, c, ep) in anchors {
        driver.detach(&ns, &c, &ep)?;
        remove_netns(&ns)?;
    }
    driver.remove_network("benchnet")?;
    Ok(())
}
