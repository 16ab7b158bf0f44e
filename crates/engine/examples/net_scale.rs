//! Times berthd's in-process attach (the bridge driver, as the engine
//! calls it) of a container publishing a port, with 9 and with 999 other
//! such containers already attached: the 10th vs the 1000th, for
//! bench/engine-net-scale.sh. Run as root inside a sandbox host (a netns
//! of its own): it makes a network, container netns and rules there.
//!
//! usage: net_scale STATE_DIR RUNS [COUNT]   (COUNT: 1000)
//! Prints one line per measurement: `NAME median_ms p90_ms runs`, then
//! `ratio R` (the 1000th's median over the 10th's).

use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_engine::network::bridge::BridgeDriver;
use berth_engine::network::{
    create_netns, remove_netns, Endpoint, EndpointConfig, NetworkAttacher, NetworkCreate, PortSpec,
};

fn median_p90(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9))
}

fn cfg(id: &str, host_port: u16) -> EndpointConfig {
    EndpointConfig {
        container_id: id.into(),
        container_name: id.into(),
        network: "scalenet".into(),
        aliases: Vec::new(),
        ports: vec![PortSpec {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
            host_port,
            host_port_end: 0,
        }],
        ifname: "eth0".into(),
        ipv4: None,
        ipv6: None,
        mac: None,
        dns: Vec::new(),
        ndots_set: false,
    }
}

/// Attaches containers until `have` holds `n`.
fn fill(
    driver: &BridgeDriver,
    dir: &Path,
    have: &mut Vec<(PathBuf, EndpointConfig, Endpoint)>,
    n: usize,
) -> anyhow::Result<()> {
    while have.len() < n {
        let i = have.len();
        let id = format!("c{i:05}");
        let ns = create_netns(dir, &id)?;
        let c = cfg(&id, 20000 + i as u16);
        let ep = driver.attach(&ns, &c)?;
        have.push((ns, c, ep));
    }
    Ok(())
}

/// `runs` attaches of one more container (port 19999) with `have`
/// attached: each timed attach is followed by an untimed detach.
fn timed(driver: &BridgeDriver, dir: &Path, runs: usize) -> anyhow::Result<Vec<f64>> {
    let c = cfg("timed", 19999);
    let mut t = Vec::new();
    for _ in 0..runs {
        let ns = create_netns(dir, "timed")?;
        let start = Instant::now();
        let ep = driver.attach(&ns, &c)?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
        driver.detach(&ns, &c, &ep)?;
        remove_netns(&ns)?;
    }
    Ok(t)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: net_scale STATE_DIR RUNS [COUNT]"))?,
    );
    let runs: usize = args.next().unwrap_or_else(|| "30".into()).parse()?;
    let count: usize = args.next().unwrap_or_else(|| "1000".into()).parse()?;
    anyhow::ensure!(count > 10 && count < 19999, "COUNT must be in 11..19999");
    let nsdir = dir.join("netns");
    std::fs::create_dir_all(&nsdir)?;
    let driver = BridgeDriver::open_at(&dir.join("network.db"), Some("10.250.0.1/16"))?;
    driver.create_network(&NetworkCreate {
        name: "scalenet".into(),
        driver: "bridge".into(),
        subnet: Some("10.252.0.0/16".into()),
        ..Default::default()
    })?;
    let mut have = Vec::new();
    fill(&driver, &nsdir, &mut have, 9)?;
    let (m10, p10) = median_p90(timed(&driver, &nsdir, runs)?);
    println!("berth-attach-10th-with-port {m10:.3} {p10:.3} {runs}");
    let start = Instant::now();
    fill(&driver, &nsdir, &mut have, count - 1)?;
    eprintln!(
        "attached {} containers in {:.1} s",
        count - 1,
        start.elapsed().as_secs_f64()
    );
    let (mn, pn) = median_p90(timed(&driver, &nsdir, runs)?);
    println!("berth-attach-{count}th-with-port {mn:.3} {pn:.3} {runs}");
    println!("ratio {:.3}", mn / m10);
    for (ns, c, ep) in have {
        driver.detach(&ns, &c, &ep)?;
        remove_netns(&ns)?;
    }
    driver.remove_network("scalenet")?;
    Ok(())
}
