//! Namespaces: new ones of every kind, joined ones by path (how the engine
//! hands a prepared network namespace to a container), a user namespace
//! with id maps, a time namespace with offsets.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{edit_config, is_root, Env};
use serde_json::{json, Value};
use std::path::Path;

fn set_ns_path(v: &mut Value, kind: &str, path: &str) {
    let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != kind);
    ns.push(json!({"type": kind, "path": path}));
}

#[test]
fn joins_a_prepared_network_namespace_by_path() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    env.host
        .sh("ip netns add prepared && ip -n prepared link set lo up && ip -n prepared addr add 10.9.9.9/32 dev lo")
        .unwrap();
    let out = env.run_edited(
        "netjoin",
        "ip -4 addr show dev lo | grep -o '10.9.9.9'; readlink /proc/self/ns/net",
        |v| {
            set_ns_path(v, "network", "/run/netns/prepared");
        },
    );
    let want_ns = env
        .host
        .sh("ip netns exec prepared readlink /proc/self/ns/net")
        .unwrap();
    assert_eq!(out, format!("10.9.9.9\n{want_ns}"));
    // With sysctls that belong to the joined namespace.
    let out = env.run_edited("netjoin2", "cat /proc/sys/net/ipv4/ip_forward", |v| {
        set_ns_path(v, "network", "/run/netns/prepared");
        v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    assert_eq!(out, "1\n");
    assert_eq!(
        env.host
            .sh("ip netns exec prepared cat /proc/sys/net/ipv4/ip_forward")
            .unwrap(),
        "1\n"
    );
}

#[test]
fn joins_another_containers_pid_ipc_and_uts_namespaces() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("host", "exec sleep 1000");
    edit_config(&b, |v| v["hostname"] = json!("shared-uts"));
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "host"])
        .ok();
    // PIDs as this test sees them differ from the sandbox's view, where
    // berth ran: find the init through the sandbox's /proc.
    let pid = env.state("host")["pid"].as_i64().unwrap();
    let out = env.run_edited(
        "guest",
        "hostname; ps -o comm | grep -c sleep; readlink /proc/self/ns/ipc",
        |v| {
            for (kind, n) in [("pid", "pid"), ("ipc", "ipc"), ("uts", "uts")] {
                set_ns_path(v, kind, &format!("/proc/{pid}/ns/{n}"));
            }
            v.as_object_mut().unwrap().remove("hostname");
        },
    );
    let ipc = env
        .host
        .sh(&format!("readlink /proc/{pid}/ns/ipc"))
        .unwrap();
    assert_eq!(out, format!("shared-uts\n1\n{ipc}"));
    env.berth(&["delete", "-f", "host"]).ok();
}

#[test]
fn user_namespace_with_id_maps() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("userns", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /dev/shm/x && stat -c %u /dev/shm/x; echo > /dev/null && echo devnull-ok");
    edit_config(&b, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    // The mapped root owns the image (as with a uid-shifted image) and can
    // reach the bundle and the /out directory.
    let shifted = std::process::Command::new("chown")
        .args(["-R", "-h", "100000:100000"])
        .arg(b.join("rootfs"))
        .status()
        .unwrap();
    assert!(shifted.success());
    let mut p = b.clone();
    while p.starts_with(env.host.root()) {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        if !p.pop() {
            break;
        }
    }
    std::fs::set_permissions(
        env.host.root(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        env.host.root().join("out"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = env
        .berth(&["run", "--bundle", b.to_str().unwrap(), "userns"])
        .ok();
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["0 100000 65536", "0 100000 65536", "0", "0", "devnull-ok"],
        "{out}"
    );

    // create + start also works (the fifo belongs to the mapped root).
    env.berth_bg(&["create", "--bundle", b.to_str().unwrap(), "userns2"])
        .ok();
    env.berth(&["start", "userns2"]).ok();
    for _ in 0..500 {
        if env.state("userns2")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    env.berth(&["delete", "userns2"]).ok();
}

#[test]
fn time_namespace_offsets() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "timens",
        "cut -d. -f1 /proc/uptime; cat /proc/self/timens_offsets",
        |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            v["linux"]["timeOffsets"] =
                json!({"boottime": {"secs": 1000000, "nanosecs": 0}, "monotonic": {"secs": 86400}});
        },
    );
    let mut lines = out.lines();
    let uptime: u64 = lines.next().unwrap().parse().unwrap();
    assert!(uptime >= 1_000_000, "{out}");
    let offsets: Vec<String> = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(offsets.contains(&"monotonic 86400 0".to_owned()), "{out}");
    assert!(offsets.contains(&"boottime 1000000 0".to_owned()), "{out}");
}

#[test]
fn every_new_namespace_differs_from_the_host() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "newns",
        "for n in mnt net pid uts ipc cgroup; do echo $n=$(readlink /proc/self/ns/$n); done",
        |_| {},
    );
    for line in out.lines() {
        let (n, id) = line.split_once('=').unwrap();
        let host = env.host.sh(&format!("readlink /proc/self/ns/{n}")).unwrap();
        assert_ne!(id, host.trim(), "{n} namespace shared with the sandbox");
    }
    assert_eq!(out.lines().count(), 6);
}

/// `"path": ""` is a new namespace, as runc reads it.
#[test]
fn an_empty_namespace_path_is_a_new_namespace() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited("emptypath", "readlink /proc/self/ns/uts", |v| {
        for ns in v["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "uts" {
                ns["path"] = json!("");
            }
        }
    });
    let host = env.host.sh("readlink /proc/self/ns/uts").unwrap();
    assert!(out.starts_with("uts:["), "{out}");
    assert_ne!(out.trim(), host.trim());
}

/// No mount namespace in the config: the container shares the runtime's
/// (chrooted into its rootfs), as the spec says for any unlisted
/// namespace and runc does; its mounts land in that namespace. Masked
/// and read-only paths need a namespace of their own (runc's error).
#[test]
fn without_a_mount_namespace_the_runtimes_is_shared() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let mut rts = vec!["berth"];
    if std::path::Path::new("/usr/sbin/runc").exists() {
        rts.push("runc");
    }
    let host_mnt = env.host.sh("readlink /proc/self/ns/mnt").unwrap();
    for rt in rts {
        let id = format!("nomnt-{rt}");
        let b = env.bundle(&id, "readlink /proc/self/ns/mnt; ls /bin/busybox");
        edit_config(&b, |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "mount");
            v["linux"]["maskedPaths"] = json!([]);
            v["linux"]["readonlyPaths"] = json!([]);
            v["root"]["readonly"] = json!(false);
        });
        let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
        let r = if rt == "berth" {
            env.berth(&args)
        } else {
            env.runc(&args)
        };
        // The mounts stay in the shared namespace (as under runc): undo them.
        let rootfs = b.join("rootfs");
        for mp in env.mounts_under(&rootfs).iter().rev() {
            let _ = env.host.sh(&format!("umount -l {mp}"));
        }
        assert_eq!(r.code, 0, "{rt}: {r:?}");
        assert_eq!(
            r.stdout,
            format!("{}\n/bin/busybox\n", host_mnt.trim()),
            "{rt}"
        );
        assert!(env.mounts_under(&rootfs).is_empty(), "{rt}: mounts left");
    }
}

/// In a new user namespace the container's root is a host user who may
/// not reach a bind source (here under a directory only the host's root
/// may enter): the runtime opens sources before the child enters the
/// namespace and mounts them through the descriptors, as runc does.
#[test]
fn user_namespace_binds_sources_it_cannot_reach() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let private = env.dir("private");
    std::fs::create_dir_all(private.join("data")).unwrap();
    std::fs::write(private.join("data/file"), "secret-but-shared\n").unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(
        private.join("data/file"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut rts = vec!["berth"];
    if std::path::Path::new("/usr/sbin/runc").exists() {
        rts.push("runc");
    }
    // The bundles and the rootfs must be reachable by the mapped root.
    std::fs::set_permissions(
        env.host.root(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for rt in rts {
        let id = format!("usrc-{rt}");
        let b = env.bundle(&id, "cat /data/file");
        edit_config(&b, |v| {
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            v["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            v["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            let m = v["mounts"].as_array_mut().unwrap();
            m.retain(|m| m["destination"] != "/out");
            m.push(json!({"destination": "/data", "type": "bind", "source": private.join("data"), "options": ["rbind", "ro"]}));
        });
        let shifted = std::process::Command::new("chown")
            .args(["-R", "-h", "100000:100000"])
            .arg(b.join("rootfs"))
            .status()
            .unwrap();
        assert!(shifted.success());
        let mut p = b.clone();
        while p.starts_with(env.host.root()) && p != env.host.root() {
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            p.pop();
        }
        let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
        let r = if rt == "berth" {
            env.berth(&args)
        } else {
            env.runc(&args)
        };
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "secret-but-shared\n"),
            "{rt}: {r:?}"
        );
    }
}

/// Makes bundle `b` usable by a root mapped to host id 100000.
fn shift_for_userns(env: &Env, b: &std::path::Path) {
    let shifted = std::process::Command::new("chown")
        .args(["-R", "-h", "100000:100000"])
        .arg(b.join("rootfs"))
        .status()
        .unwrap();
    assert!(shifted.success());
    let mut p = b.to_path_buf();
    while p.starts_with(env.host.root()) {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        if !p.pop() {
            break;
        }
    }
    std::fs::set_permissions(
        env.host.root().join("out"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
}

/// Joining another container's user namespace by path (no mappings in
/// the config: they are the namespace's): the process is root of that
/// namespace, /dev and devpts are made there, and `create` + `start`
/// work (the exec.fifo belongs to the namespace's root). Debian's runc
/// 1.1 insists on mappings in the config, so it is not compared.
#[test]
fn joins_another_containers_user_namespace() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let a = env.bundle("owner", "exec sleep 1000");
    edit_config(&a, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    shift_for_userns(&env, &a);
    env.berth_bg(&["run", "-d", "--bundle", a.to_str().unwrap(), "owner"])
        .ok();
    let pid = env.state("owner")["pid"].as_i64().unwrap();
    let owner_ns = env
        .host
        .sh(&format!("readlink /proc/{pid}/ns/user"))
        .unwrap();
    let b = env.bundle(
        "joiner",
        "{ id -u; ls /dev/pts/ptmx; readlink /proc/self/ns/user; } > /out/seen",
    );
    edit_config(&b, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    });
    shift_for_userns(&env, &b);
    let bs = b.to_str().unwrap();
    env.berth_bg(&["create", "--bundle", bs, "joiner"]).ok();
    env.berth(&["start", "joiner"]).ok();
    let mut seen = String::new();
    for _ in 0..500 {
        seen = env.read_out("joiner", "seen");
        if seen.lines().count() == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    env.berth(&["delete", "-f", "joiner"]).ok();
    env.berth(&["delete", "-f", "owner"]).ok();
    assert_eq!(seen, format!("0\n/dev/pts/ptmx\n{owner_ns}"));
}

/// Joins another container's user namespace and, by path, a network
/// namespace that user namespace does not own (`ip netns add`, owned by
/// the host's): runc joins every other namespace before the user
/// namespace, while it still has the host's capabilities, so this works;
/// joining the user namespace first would make the netns's setns fail
/// with EPERM, as runc before 1.3 did ("failed to setns into net
/// namespace: Operation not permitted"). sysfs is bound, not mounted: a
/// sysfs mount needs the netns's owner, and runc fails there too. Debian's
/// runc 1.1 wants the user namespace's mappings in the config as well.
#[test]
fn joins_a_netns_the_joined_user_namespace_does_not_own() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    env.host
        .sh("ip netns add foreign && ip -n foreign link set lo up")
        .unwrap();
    let want_net = env
        .host
        .sh("ip netns exec foreign readlink /proc/self/ns/net")
        .unwrap();
    let maps = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let a = env.bundle("nsowner", "exec sleep 1000");
    edit_config(&a, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        v["linux"]["uidMappings"] = maps.clone();
        v["linux"]["gidMappings"] = maps.clone();
    });
    shift_for_userns(&env, &a);
    env.berth_bg(&["run", "-d", "--bundle", a.to_str().unwrap(), "nsowner"])
        .ok();
    let pid = env.state("nsowner")["pid"].as_i64().unwrap();
    let owner_user = env
        .host
        .sh(&format!("readlink /proc/{pid}/ns/user"))
        .unwrap();
    let joiner = |rt: &str, bind_sys: bool| {
        let id = format!("nsjoin-{rt}-{bind_sys}");
        let b = env.bundle(
            &id,
            "readlink /proc/self/ns/user; readlink /proc/self/ns/net",
        );
        edit_config(&b, |v| {
            set_ns_path(v, "network", "/run/netns/foreign");
            v["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
            v["linux"]["uidMappings"] = maps.clone();
            v["linux"]["gidMappings"] = maps.clone();
            if bind_sys {
                for m in v["mounts"].as_array_mut().unwrap() {
                    if m["destination"] == "/sys" {
                        *m = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                    }
                }
            }
        });
        shift_for_userns(&env, &b);
        let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
        let r = if rt == "berth" {
            env.berth(&args)
        } else {
            env.runc(&args)
        };
        // Gone already when the run ended; left behind when it failed.
        let _ = if rt == "berth" {
            env.berth(&["delete", "-f", &id])
        } else {
            env.runc(&["delete", "-f", &id])
        };
        r
    };
    let ours = joiner("berth", true);
    let ours_sysfs = joiner("berth", false);
    let theirs = Path::new("/usr/sbin/runc")
        .exists()
        .then(|| (joiner("runc", true), joiner("runc", false)));
    env.berth(&["delete", "-f", "nsowner"]).ok();
    assert_eq!(
        (ours.code, ours.stdout.as_str()),
        (0, format!("{owner_user}{want_net}").as_str()),
        "{ours:?}"
    );
    // A sysfs mount in a netns the user namespace does not own: EPERM,
    // and the error says which mount.
    assert_ne!(ours_sysfs.code, 0, "{ours_sysfs:?}");
    assert!(
        ours_sysfs.stderr.contains("/sys") && ours_sysfs.stderr.contains("not permitted"),
        "{ours_sysfs:?}"
    );
    if let Some((t, t_sysfs)) = theirs {
        assert_ne!(t_sysfs.code, 0, "runc: {t_sysfs:?}");
        if t.stderr.contains("failed to setns into net namespace") {
            // runc before 1.3 joins the user namespace first.
            berth_testsupport::kernel::report_skip(
                "this runc (before 1.3) joins the user namespace first and fails; not compared",
            );
        } else {
            assert_eq!(
                (t.code, &t.stdout),
                (ours.code, &ours.stdout),
                "runc: {t:?}"
            );
        }
    }
}
