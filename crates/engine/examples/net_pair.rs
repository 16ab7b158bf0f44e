//! Two (or more) containers' netns attached by berthd's bridge driver (in process,
//! as the engine does) to one user-defined network, held until stdin
//! closes, for the throughput and DNS benchmarks (bench/engine-net-tput.sh,
//! bench/engine-dns.sh). Run as root inside a sandbox host.
//!
//! usage: net_pair STATE_DIR NETNS_DIR NAME_A NAME_B [NAME...]
//! Prints `NAME IP` per container, then `gateway IP`, then `ready`; each
//! netns (NETNS_DIR/NAME) has the embedded DNS on 127.0.0.11:53, which
//! answers the other's name. Detaches both when stdin closes.

use std::io::Read;
use std::path::PathBuf;

use berth_engine::network::bridge::BridgeDriver;
use berth_engine::network::{
    create_netns, remove_netns, EndpointConfig, NetworkAttacher, NetworkCreate,
};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        a.len() >= 4,
        "usage: net_pair STATE_DIR NETNS_DIR NAME_A NAME_B [NAME...]"
    );
    let dir = PathBuf::from(&a[0]);
    let nsdir = PathBuf::from(&a[1]);
    std::fs::create_dir_all(&dir)?;
    let driver = BridgeDriver::open_at(&dir.join("network.db"), Some("10.250.0.1/16"))?;
    driver.create_network(&NetworkCreate {
        name: "pairnet".into(),
        driver: "bridge".into(),
        subnet: Some("10.253.0.0/16".into()),
        ..Default::default()
    })?;
    let mut held = Vec::new();
    for name in &a[2..] {
        let c = EndpointConfig {
            container_id: format!("{name:0>64}"),
            container_name: name.clone(),
            network: "pairnet".into(),
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
        let ns = create_netns(&nsdir, name)?;
        let ep = driver.attach(&ns, &c)?;
        println!("{name} {}", ep.ip_address);
        if held.is_empty() {
            println!("gateway {}", ep.gateway);
        }
        held.push((ns, c, ep));
    }
    println!("ready");
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    for (ns, c, ep) in held {
        driver.detach(&ns, &c, &ep)?;
        remove_netns(&ns)?;
    }
    driver.remove_network("pairnet")?;
    Ok(())
}
