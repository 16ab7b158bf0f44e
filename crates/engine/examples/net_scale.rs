//! Times berthd's in-process attach (the bridge driver, as the engine
//! calls it) of a container publishing a port, with 9 and with COUNT-1
//! other such containers already attached: the 10th vs the 1000th, for
//! bench/engine-net-scale.sh. Run as root inside a sandbox host (a netns
//! of its own): it makes a network, container netns and rules there.
//!
//! The machine's load drifts over the minute this takes, so every timed
//! attach is paired with a control attach made right after it: the 10th
//! container of a second, small host (a netns of its own with its own
//! bridge, berth table and state, holding 9 containers), detached again
//! so it stays at 9. Links, bridge ports and nftables elements are per
//! netns, so the control sees the load but not the big host's size.
//!
//! usage: net_scale STATE_DIR RUNS [COUNT]   (COUNT: 1000)
//! Prints `NAME median_ms p90_ms runs` per measurement (wall time, and
//! `NAME-cpu` for the CPU time, user + system of the whole process), then
//! `ratio R` (the COUNT-th's wall median over the 10th's, drift included),
//! `cpu-ratio R` and `paired-ratio R` (each attach over its control, the
//! COUNT-th stage's median over the 10th stage's).

use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_engine::network::bridge::BridgeDriver;
use berth_engine::network::{
    create_netns, remove_netns, Endpoint, EndpointConfig, NetworkAttacher, NetworkCreate, PortSpec,
};
use berth_net::NetNs;

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
        links: Default::default(),
    }
}

/// CPU time (user + system) of every thread of this process, in ms.
fn cpu_ms() -> anyhow::Result<f64> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    anyhow::ensure!(rc == 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: rc == 0, so the kernel wrote the whole struct.
    let ru = unsafe { ru.assume_init() };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Ok(ms(ru.ru_utime) + ms(ru.ru_stime))
}

/// One host: a driver working in a network namespace (`None`: this
/// thread's own), with its attached containers.
struct Host {
    ns: Option<NetNs>,
    driver: BridgeDriver,
    prefix: &'static str,
    have: Vec<(PathBuf, EndpointConfig, Endpoint)>,
}

impl Host {
    fn open(state: &Path, ns: Option<NetNs>, prefix: &'static str) -> anyhow::Result<Host> {
        std::fs::create_dir_all(state)?;
        let driver = in_ns(&ns, || -> anyhow::Result<BridgeDriver> {
            let d = BridgeDriver::open_at(&state.join("network.db"), Some("10.250.0.1/16"))?;
            d.create_network(&NetworkCreate {
                name: "scalenet".into(),
                driver: "bridge".into(),
                subnet: Some("10.252.0.0/16".into()),
                ..Default::default()
            })?;
            Ok(d)
        })??;
        Ok(Host {
            ns,
            driver,
            prefix,
            have: Vec::new(),
        })
    }

    /// Attaches containers until `have` holds `n`.
    fn fill(&mut self, dir: &Path, n: usize) -> anyhow::Result<()> {
        while self.have.len() < n {
            let i = self.have.len();
            let id = format!("{}{i:05}", self.prefix);
            let ns = create_netns(dir, &id)?;
            let c = cfg(&id, 20000 + i as u16);
            let ep = in_ns(&self.ns, || self.driver.attach(&ns, &c))??;
            self.have.push((ns, c, ep));
        }
        Ok(())
    }

    /// One attach of one more container (port 19999), timed (wall, CPU
    /// ms), then an untimed detach.
    fn timed(&self, dir: &Path) -> anyhow::Result<(f64, f64)> {
        let id = format!("{}timed", self.prefix);
        let c = cfg(&id, 19999);
        let ns = create_netns(dir, &id)?;
        let (wall, cpu, ep) = in_ns(&self.ns, || -> anyhow::Result<_> {
            let c0 = cpu_ms()?;
            let start = Instant::now();
            let ep = self.driver.attach(&ns, &c)?;
            Ok((start.elapsed().as_secs_f64() * 1e3, cpu_ms()? - c0, ep))
        })??;
        in_ns(&self.ns, || self.driver.detach(&ns, &c, &ep))??;
        remove_netns(&ns)?;
        Ok((wall, cpu))
    }

    fn detach_all(&mut self) -> anyhow::Result<()> {
        while let Some((ns, c, ep)) = self.have.pop() {
            in_ns(&self.ns, || self.driver.detach(&ns, &c, &ep))??;
            remove_netns(&ns)?;
        }
        in_ns(&self.ns, || self.driver.remove_network("scalenet"))??;
        Ok(())
    }
}

/// Runs `f` in `ns` (on this thread), or right here without one.
fn in_ns<T: Send>(ns: &Option<NetNs>, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    match ns {
        Some(ns) => Ok(ns.run_in(f)?),
        None => Ok(f()),
    }
}

/// `runs` timed attaches on `big`, each followed by one on `ctl`; prints
/// the wall and CPU lines under `name` and returns the wall median, the
/// CPU median and the median of the per-pair ratios.
fn measure(
    big: &Host,
    ctl: &Host,
    dir: &Path,
    runs: usize,
    name: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let (mut wall, mut cpu, mut cwall, mut pair) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let (w, c) = big.timed(dir)?;
        let (cw, _) = ctl.timed(dir)?;
        wall.push(w);
        cpu.push(c);
        cwall.push(cw);
        pair.push(w / cw);
    }
    let (mw, pw) = median_p90(wall);
    let (mc, pc) = median_p90(cpu);
    let (mcw, pcw) = median_p90(cwall);
    let (mp, _) = median_p90(pair);
    println!("{name} {mw:.3} {pw:.3} {runs}");
    println!("{name}-cpu {mc:.3} {pc:.3} {runs}");
    println!("  control-10th-beside-it {mcw:.3} {pcw:.3} {runs}");
    Ok((mw, mc, mp))
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
    let ctl_ns = NetNs::create(&nsdir, "control-host")?;
    let ctl_path = ctl_ns.path().to_path_buf();
    let mut big = Host::open(&dir.join("big"), None, "c")?;
    let mut ctl = Host::open(&dir.join("control"), Some(ctl_ns), "k")?;
    big.fill(&nsdir, 9)?;
    ctl.fill(&nsdir, 9)?;
    let (m10, c10, p10) = measure(&big, &ctl, &nsdir, runs, "berth-attach-10th-with-port")?;
    let start = Instant::now();
    big.fill(&nsdir, count - 1)?;
    eprintln!(
        "attached {} containers in {:.1} s",
        count - 1,
        start.elapsed().as_secs_f64()
    );
    let (mn, cn, pn) = measure(
        &big,
        &ctl,
        &nsdir,
        runs,
        &format!("berth-attach-{count}th-with-port"),
    )?;
    println!("ratio {:.3}", mn / m10);
    println!("cpu-ratio {:.3}", cn / c10);
    println!("paired-ratio {:.3}", pn / p10);
    big.detach_all()?;
    ctl.detach_all()?;
    drop(ctl);
    remove_netns(&ctl_path)?;
    Ok(())
}
