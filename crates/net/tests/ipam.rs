//! IPAM: allocation rules, persistence and concurrency (threads and processes).

use std::collections::HashSet;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use berth_net::ipam::Ipam;
use berth_net::ipam::{IpamConfig, IpamError, LeaseFiles, Range};
use berth_store::{MemStore, RedbStore, Store};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip literal")
}

fn cfg(subnets: &[&str]) -> IpamConfig {
    IpamConfig::from_subnets(
        &subnets
            .iter()
            .map(|s| s.parse().expect("subnet"))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn defaults_skip_network_gateway_and_broadcast() {
    let store = MemStore::new();
    let ipam = Ipam::new(&store, "n1").expect("ipam");
    let c = cfg(&["10.9.0.0/24"]);
    let a = ipam.allocate(&c, "ctr-a", "eth0", &[]).expect("alloc");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].address.to_string(), "10.9.0.2/24");
    assert_eq!(a[0].gateway, Some(ip("10.9.0.1")));
    // Retried ADD: same answer, nothing new taken.
    assert_eq!(ipam.allocate(&c, "ctr-a", "eth0", &[]).expect("again"), a);
    assert_eq!(ipam.leases().expect("leases").len(), 1);

    let mut seen = HashSet::new();
    seen.insert(a[0].address.addr());
    for i in 1..253 {
        let got = ipam
            .allocate(&c, &format!("ctr-{i}"), "eth0", &[])
            .expect("alloc");
        assert!(
            seen.insert(got[0].address.addr()),
            "duplicate {}",
            got[0].address
        );
    }
    assert_eq!(seen.len(), 253);
    assert!(
        !seen.contains(&ip("10.9.0.0"))
            && !seen.contains(&ip("10.9.0.1"))
            && !seen.contains(&ip("10.9.0.255"))
    );
    let err = ipam
        .allocate(&c, "one-too-many", "eth0", &[])
        .expect_err("full");
    assert!(matches!(err, IpamError::Exhausted { .. }));
    assert_eq!(
        err.to_string(),
        "no free address in range set 0 (10.9.0.0/24) of network n1"
    );
    assert!(ipam
        .addresses_of("one-too-many", "eth0")
        .expect("lookup")
        .is_empty());
}

#[test]
fn round_robin_does_not_reuse_a_released_address_at_once() {
    let store = MemStore::new();
    let ipam = Ipam::new(&store, "n").expect("ipam");
    let c = cfg(&["10.9.0.0/29"]); // hosts .1-.6, gateway .1 → .2-.6
    let a = ipam.allocate(&c, "a", "eth0", &[]).expect("a");
    assert_eq!(a[0].address.addr(), ip("10.9.0.2"));
    assert_eq!(
        ipam.release("a", None).expect("release"),
        vec![ip("10.9.0.2")]
    );
    assert!(ipam.release("a", None).expect("release twice").is_empty());
    let b = ipam.allocate(&c, "b", "eth0", &[]).expect("b");
    assert_eq!(b[0].address.addr(), ip("10.9.0.3"));
    for id in ["c", "d", "e"] {
        ipam.allocate(&c, id, "eth0", &[]).expect("fill");
    }
    // .3-.6 taken: wrapping round finds .2 again.
    let f = ipam.allocate(&c, "f", "eth0", &[]).expect("wrap");
    assert_eq!(f[0].address.addr(), ip("10.9.0.2"));
}

#[test]
fn static_requests_and_dual_stack() {
    let store = MemStore::new();
    let ipam = Ipam::new(&store, "dual").expect("ipam");
    let c = cfg(&["10.9.0.0/24", "fd00:9::/64"]);
    let a = ipam
        .allocate(&c, "a", "eth0", &[ip("10.9.0.100")])
        .expect("static v4");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].address.to_string(), "10.9.0.100/24");
    assert_eq!(a[1].address.to_string(), "fd00:9::2/64");
    assert_eq!(a[1].gateway, Some(ip("fd00:9::1")));
    let err = ipam
        .allocate(&c, "b", "eth0", &[ip("10.9.0.100")])
        .expect_err("taken");
    assert_eq!(
        err.to_string(),
        "requested address 10.9.0.100 is already allocated to a/eth0"
    );
    assert!(
        ipam.addresses_of("b", "eth0").expect("b").is_empty(),
        "all or nothing"
    );
    assert!(matches!(
        ipam.allocate(&c, "b", "eth0", &[ip("192.168.1.1")]),
        Err(IpamError::NotInRange(_))
    ));
    assert!(matches!(
        ipam.allocate(&c, "b", "eth0", &[ip("10.9.0.7"), ip("10.9.0.8")]),
        Err(IpamError::TwoInOneSet(..))
    ));
    // Two interfaces of one container; release by interface, then by id.
    ipam.allocate(&c, "b", "eth0", &[]).expect("b eth0");
    ipam.allocate(&c, "b", "eth1", &[]).expect("b eth1");
    assert_eq!(ipam.release("b", Some("eth1")).expect("rel eth1").len(), 2);
    assert_eq!(ipam.addresses_of("b", "eth0").expect("b eth0").len(), 2);
    assert_eq!(ipam.release("b", None).expect("rel b").len(), 2);
    assert_eq!(ipam.leases().expect("leases").len(), 2, "only a's remain");
}

#[test]
fn config_errors_name_the_field() {
    let store = MemStore::new();
    let ipam = Ipam::new(&store, "n").expect("ipam");
    let bad_start: IpamConfig = serde_json::from_str(
        r#"{"ranges": [[{"subnet": "10.9.0.0/24", "rangeStart": "10.8.0.10"}]]}"#,
    )
    .expect("json");
    let err = ipam
        .allocate(&bad_start, "a", "eth0", &[])
        .expect_err("outside");
    assert_eq!(
        err.to_string(),
        "invalid ipam config ranges[0][0].rangeStart: 10.8.0.10 is not in subnet 10.9.0.0/24"
    );
    let reversed = IpamConfig {
        ranges: vec![vec![Range {
            subnet: "10.9.0.0/24".parse().expect("net"),
            range_start: Some(ip("10.9.0.50")),
            range_end: Some(ip("10.9.0.40")),
            gateway: None,
        }]],
        routes: vec![],
    };
    assert!(reversed
        .validate()
        .expect_err("reversed")
        .to_string()
        .contains("ranges[0][0].rangeEnd"));
    let overlap = cfg(&["10.9.0.0/24", "10.9.0.0/25"]);
    assert!(overlap
        .validate()
        .expect_err("overlap")
        .to_string()
        .contains("overlaps ranges[0][0]"));
    let mixed: IpamConfig = serde_json::from_str(
        r#"{"ranges": [[{"subnet": "10.9.0.0/24"}, {"subnet": "fd00::/64"}]]}"#,
    )
    .expect("json");
    assert!(mixed
        .validate()
        .expect_err("mixed")
        .to_string()
        .contains("mixes IPv4 and IPv6"));
    assert!(IpamConfig::default().validate().is_err());
    assert!(matches!(
        Ipam::new(&store, "a/b"),
        Err(IpamError::BadName { .. })
    ));
    assert!(matches!(
        ipam.allocate(&cfg(&["10.9.0.0/24"]), "", "eth0", &[]),
        Err(IpamError::BadName { .. })
    ));
}

#[test]
fn explicit_range_and_gateway_from_host_local_json() {
    let c: IpamConfig = serde_json::from_str(
        r#"{"ranges": [[{"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.10", "rangeEnd": "10.9.0.11", "gateway": "10.9.0.254"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.9.0.254"}]}"#,
    )
    .expect("json");
    c.validate().expect("valid");
    let store = MemStore::new();
    let ipam = Ipam::new(&store, "n").expect("ipam");
    let a = ipam.allocate(&c, "a", "eth0", &[]).expect("a");
    assert_eq!(
        (a[0].address.to_string(), a[0].gateway),
        ("10.9.0.10/24".into(), Some(ip("10.9.0.254")))
    );
    ipam.allocate(&c, "b", "eth0", &[]).expect("b");
    assert!(matches!(
        ipam.allocate(&c, "c", "eth0", &[]),
        Err(IpamError::Exhausted { .. })
    ));
    assert_eq!(c.routes.len(), 2);
}

const SUBNET: &str = "10.77.0.0/24";

fn distinct_leases(store: &dyn Store) -> usize {
    let ipam = Ipam::new(store, "conc").expect("ipam");
    let leases = ipam.leases().expect("leases");
    let ips: HashSet<IpAddr> = leases.iter().map(|l| l.ip).collect();
    assert_eq!(ips.len(), leases.len(), "a lease key per address");
    let ids: HashSet<&str> = leases.iter().map(|l| l.container_id.as_str()).collect();
    assert_eq!(ids.len(), leases.len(), "one address per container");
    ips.len()
}

#[test]
fn concurrent_threads_get_distinct_addresses_or_a_clean_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    race_threads(Arc::new(RedbStore::open_in_dir(dir.path()).expect("store")));
    let files = tempfile::tempdir().expect("tempdir");
    race_threads(Arc::new(LeaseFiles::open(files.path()).expect("store")));
}

fn race_threads(store: Arc<dyn Store>) {
    // 260 ADDs on a /24 with 253 usable: 253 distinct addresses, 7 exhausted.
    let threads: Vec<_> = (0..260)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let ipam = Ipam::new(store.as_ref(), "conc").expect("ipam");
                ipam.allocate(&cfg(&[SUBNET]), &format!("t{i}"), "eth0", &[])
            })
        })
        .collect();
    let mut ok = 0;
    let mut exhausted = 0;
    for t in threads {
        match t.join().expect("thread") {
            Ok(_) => ok += 1,
            Err(IpamError::Exhausted { .. }) => exhausted += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, exhausted), (253, 7));
    assert_eq!(distinct_leases(store.as_ref()), 253);
}

const WORKER_ENV: &str = "BERTH_IPAM_TEST_WORKER";
/// Set for workers of the lease-files variant.
const WORKER_FILES_ENV: &str = "BERTH_IPAM_TEST_FILES";

/// A child process of `concurrent_processes_get_distinct_addresses`: one ADD.
#[test]
fn ipam_process_worker() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return; // not started as a worker
    };
    let (dir, id) = spec.split_once('|').expect("worker spec");
    let store: Box<dyn Store> = if std::env::var_os(WORKER_FILES_ENV).is_some_and(|v| v == "1") {
        Box::new(LeaseFiles::open(dir).expect("worker lease files"))
    } else {
        Box::new(RedbStore::open_in_dir(dir).expect("worker store"))
    };
    let ipam = Ipam::new(store.as_ref(), "conc").expect("ipam");
    match ipam.allocate(&cfg(&[SUBNET]), id, "eth0", &[]) {
        Ok(_) => {}
        Err(IpamError::Exhausted { .. }) => std::process::exit(3),
        Err(e) => panic!("worker {id}: {e}"),
    }
}

#[test]
fn concurrent_processes_get_distinct_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    race_processes(dir.path(), false);
    let store = RedbStore::open_in_dir(dir.path()).expect("store");
    assert_eq!(distinct_leases(&store), 200);
}

#[test]
fn concurrent_processes_get_distinct_addresses_from_lease_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    race_processes(dir.path(), true);
    let store = LeaseFiles::open(dir.path()).expect("store");
    assert_eq!(distinct_leases(&store), 200);
}

#[test]
fn lease_files_release_finds_leases_whose_owner_entry_was_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LeaseFiles::open(dir.path()).expect("store");
    let ipam = Ipam::new(&store, "n").expect("ipam");
    let c = cfg(&["10.9.0.0/24", "fd00:9::/64"]);
    let a = ipam.allocate(&c, "c1", "eth0", &[]).expect("alloc");
    ipam.allocate(&c, "c2", "eth0", &[]).expect("alloc c2");
    let lease = dir
        .path()
        .join(format!("ipam/v1/n/ip/{}", a[0].address.addr()));
    assert!(lease.is_file(), "a lease is a file: {}", lease.display());
    // The owner index is not synced: a crash may lose it.
    std::fs::remove_file(dir.path().join("ipam/v1/n/owner/c1@eth0")).expect("drop owner");
    let mut released = ipam.release("c1", Some("eth0")).expect("release");
    released.sort();
    let mut want: Vec<IpAddr> = a.iter().map(|x| x.address.addr()).collect();
    want.sort();
    assert_eq!(released, want);
    let left: Vec<String> = ipam
        .leases()
        .expect("leases")
        .into_iter()
        .map(|l| l.container_id)
        .collect();
    assert_eq!(left, ["c2", "c2"]);
}

/// 200 processes allocate at once, starting with no store at all.
fn race_processes(dir: &std::path::Path, files: bool) {
    let exe = std::env::current_exe().expect("exe");
    // 200 processes race, starting with no store file at all.
    let children: Vec<_> = (0..200)
        .map(|i| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "ipam_process_worker",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(WORKER_ENV, format!("{}|p{i}", dir.display()))
                .env(WORKER_FILES_ENV, if files { "1" } else { "" })
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    for mut c in children {
        let st = c.wait().expect("wait");
        assert!(st.success(), "worker failed: {st}");
    }
}
