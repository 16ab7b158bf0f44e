//! Engine networking repairs (issue 11), through the docker CLI with
//! berthd in a sandbox host: the nftables ruleset flushed (or berth's
//! table deleted) under a running container is restored by berthd's
//! watcher; berthd killed in the middle of an attach leaves nothing after
//! its restart; many concurrent attaches get distinct addresses.

mod docker_support;

use std::time::Duration;

use docker_support::{code, fetch_from_host, httpd, retry, stderr, within, Daemon};

fn berth_table(d: &Daemon) -> String {
    d.host
        .sh("nft list table inet berth")
        .unwrap_or_else(|e| format!("(no table: {e})"))
}

fn restores_logged(d: &Daemon) -> usize {
    d.log_text()
        .matches("changed by someone else: restoring it")
        .count()
}

#[test]
fn ruleset_flushed_or_table_deleted_under_a_running_container_is_restored() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.77.0.0/24", "healnet"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "busybox",
        "sh",
        "-c",
        &httpd("healed"),
    ]);
    let got = within(20, || fetch_from_host(&d, "http://127.0.0.1:8080/"));
    assert!(
        got.as_deref().is_ok_and(|s| s.contains("healed")),
        "{got:?}"
    );
    for damage in [
        "nft flush ruleset",
        "nft delete table inet berth",
        "nft flush chain inet berth published",
        "nft delete rule inet berth postrouting handle $(nft -a list chain inet berth postrouting | awk '/masquerade/ {print $NF; exit}')",
    ] {
        let before = restores_logged(&d);
        // Someone else's table: berth never touches it, and a repair of
        // berth's table leaves it as it was.
        d.host
            .sh("nft add table inet bystander && nft flush table inet bystander && nft add chain inet bystander c && nft add rule inet bystander c counter")
            .expect("bystander table");
        let bystander = d.host.sh("nft list table inet bystander").expect("list");
        d.host.sh(damage).expect(damage);
        let got = within(5, || {
            let t = berth_table(&d);
            let complete = t.contains("8080")
                && t.contains("10.77.0.0/24")
                && t.matches("masquerade").count() == 5
                && t.contains("jump published");
            if !complete {
                return Err(format!("table not restored yet:\n{t}"));
            }
            fetch_from_host(&d, "http://127.0.0.1:8080/")
        });
        assert!(
            got.as_deref().is_ok_and(|s| s.contains("healed")),
            "after `{damage}`: {got:?}\n{}\n{}",
            berth_table(&d),
            docker_support::tail(&d.log_text(), 30)
        );
        assert!(
            restores_logged(&d) > before,
            "after `{damage}`: berthd logged no repair"
        );
        // The same rules as a fresh table has: as many as before the damage.
        let t = berth_table(&d);
        assert_eq!(t.matches("masquerade").count(), 5, "{t}");
        if !damage.contains("flush ruleset") {
            assert_eq!(
                d.host.sh("nft list table inet bystander").expect("list"),
                bystander,
                "the bystander table changed"
            );
        }
    }
    d.ok(&["rm", "-f", "web"]);
    d.ok(&["network", "rm", "healnet"]);
    let t = berth_table(&d);
    assert!(!t.contains("8080"), "port left published:\n{t}");
    d.host
        .sh("nft delete table inet bystander")
        .expect("cleanup");
}

fn wait_exit(d: &mut Daemon) {
    for _ in 0..200 {
        if d.exited() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("berthd did not stop at its crash point:\n{}", d.log_text());
}

fn veths(d: &Daemon) -> Vec<String> {
    d.host
        .sh("ip -o link show")
        .expect("links")
        .lines()
        .filter(|l| l.contains("veth"))
        .map(str::to_owned)
        .collect()
}

fn netns_files(d: &Daemon) -> Vec<String> {
    std::fs::read_dir(d.host.dirs().run.join("netns"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn berthd_killed_mid_attach_leaves_nothing_after_restart() {
    let mut d = Daemon::start();
    d.load_busybox();
    // One address only (.1 is the gateway): a kept lease would show.
    d.ok(&["network", "create", "--subnet", "10.79.0.0/30", "tiny"]);
    d.start_again(&[("BERTH_CRASH_AT", "attach:endpoint-made")]);
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "half",
        "--network",
        "tiny",
        "-p",
        "8081:80",
        "busybox",
        "sh",
        "-c",
        &httpd("again"),
    ]);
    assert_ne!(code(&out), 0, "run answered although berthd died");
    wait_exit(&mut d);
    // The crash point was reached mid-attach: the veth, the netns and the
    // published port exist, no record names them.
    assert_eq!(veths(&d).len(), 1, "{:?}", veths(&d));
    assert_eq!(netns_files(&d).len(), 1);
    assert!(berth_table(&d).contains("8081"), "{}", berth_table(&d));

    d.start_again(&[]);
    // A deleted netns's veth pair is freed by the kernel's own cleanup
    // work after the call returns: wait for it, bounded.
    let left = retry(10, || veths(&d), Vec::is_empty);
    assert_eq!(left, Vec::<String>::new(), "veth left after restart");
    assert_eq!(netns_files(&d), Vec::<String>::new(), "netns left");
    assert_eq!(d.berth_mounts(), Vec::<String>::new(), "mounts left");
    let t = berth_table(&d);
    assert!(!t.contains("8081"), "DNAT element left:\n{t}");
    // The address half leased is free again: a new container gets it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "probe",
        "--network",
        "tiny",
        "busybox",
        "sleep",
        "1000",
    ]);
    let ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.tiny.IPAddress}}",
        "probe",
    ]);
    assert_eq!(ip.trim(), "10.79.0.2");
    d.ok(&["rm", "-f", "probe"]);
    // The half-started container starts and publishes its port.
    d.ok(&["start", "half"]);
    let got = within(20, || fetch_from_host(&d, "http://127.0.0.1:8081/"));
    assert!(got.as_deref().is_ok_and(|s| s.contains("again")), "{got:?}");
    d.ok(&["rm", "-f", "half"]);
    assert_eq!(retry(10, || veths(&d), Vec::is_empty), Vec::<String>::new());
    assert_eq!(netns_files(&d), Vec::<String>::new());
    assert!(!berth_table(&d).contains("8081"));
    d.ok(&["network", "rm", "tiny"]);
}

#[test]
fn two_hundred_concurrent_attaches_get_distinct_addresses() {
    const N: usize = 200;
    const THREADS: usize = 8;
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["network", "create", "--subnet", "10.78.0.0/16", "crowd"]);
    let ids = std::sync::Mutex::new(Vec::new());
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (d, ids, errors) = (&d, &ids, &errors);
            s.spawn(move || {
                for i in (t..N).step_by(THREADS) {
                    let out = d.docker(&[
                        "run",
                        "-d",
                        "--network",
                        "crowd",
                        "--name",
                        &format!("c{i}"),
                        "busybox",
                        "sleep",
                        "1000",
                    ]);
                    if code(&out) == 0 {
                        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        ids.lock().expect("ids").push(id);
                    } else {
                        errors.lock().expect("errors").push(stderr(&out));
                    }
                }
            });
        }
    });
    let ids = ids.into_inner().expect("ids");
    let errors = errors.into_inner().expect("errors");
    assert!(
        errors.is_empty(),
        "{} runs failed: {:?}",
        errors.len(),
        errors.first()
    );
    assert_eq!(ids.len(), N);
    let mut args = vec![
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    ];
    args.extend(ids.iter().map(String::as_str));
    let ips: Vec<String> = d.ok(&args).lines().map(str::to_owned).collect();
    assert_eq!(ips.len(), N);
    let distinct: std::collections::HashSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), N, "duplicate addresses: {ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.78.")), "{ips:?}");
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    d.ok(&rm);
    d.ok(&["network", "rm", "crowd"]);
    let left = retry(10, || veths(&d), Vec::is_empty);
    assert_eq!(left, Vec::<String>::new(), "veth left");
    assert_eq!(netns_files(&d), Vec::<String>::new(), "netns left");
}
