//! What the container's filesystem looks like: every mount type, /dev,
//! pivot_root, masked and read-only paths, a read-only root, propagation,
//! hostname, domainname and sysctls.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{edit_config, is_root, Env};
use serde_json::json;

fn mount_opts<'a>(mountinfo: &'a str, mp: &str) -> Option<&'a str> {
    mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mp))
        .and_then(|l| l.split(' ').nth(5))
}

#[test]
fn mount_types_and_options() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let data = env.dir("data");
    std::fs::write(data.join("file"), "hello\n").unwrap();
    let out = env.run_edited(
        "mounts",
        "cat /proc/self/mountinfo; echo ---; cat /data/file; cat /single; \
         touch /data/x 2>/dev/null && echo data-writable; touch /rw/x && echo rw-writable; \
         ls -d /dev/mqueue /dev/shm /dev/pts/ptmx",
        |v| {
            let m = v["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["bind", "ro", "nosuid", "nodev"]}));
            m.push(json!({"destination": "/single", "type": "none", "source": data.join("file"), "options": ["bind", "ro"]}));
            m.push(json!({"destination": "/rw", "type": "bind", "source": data, "options": ["rbind", "rw"]}));
            m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=1m", "mode=700"]}));
        },
    );
    let (mi, rest) = out.split_once("---\n").unwrap();
    let opts = mount_opts(mi, "/data").unwrap();
    for o in ["ro", "nosuid", "nodev"] {
        assert!(opts.split(',').any(|x| x == o), "/data opts {opts}");
    }
    assert!(mount_opts(mi, "/single").unwrap().starts_with("ro"));
    assert!(mount_opts(mi, "/scratch").unwrap().contains("noexec"));
    let scratch = mi
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/scratch"))
        .unwrap();
    assert!(
        scratch.contains("size=1024k") && scratch.contains("mode=700"),
        "{scratch}"
    );
    for t in [
        " - proc ",
        " - sysfs ",
        " - devpts ",
        " - mqueue ",
        " - tmpfs ",
    ] {
        assert!(mi.contains(t), "no{t}mount in {mi}");
    }
    assert!(rest.starts_with("hello\nhello\n"), "{rest}");
    assert!(!rest.contains("data-writable"));
    assert!(rest.contains("rw-writable"));
    assert!(rest.contains("/dev/pts/ptmx"));
    assert!(data.join("x").exists());
}

#[test]
fn bind_is_not_recursive_but_rbind_is() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let src = env.dir("nested");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    // A submount inside the sandbox's mount namespace.
    env.host
        .sh(&format!(
            "mount -t tmpfs nested-sub {0}/sub && echo inner > {0}/sub/marker",
            src.display()
        ))
        .unwrap();
    let out = env.run_edited(
        "rbind",
        "cat /plain/sub/marker 2>/dev/null || echo missing; cat /rec/sub/marker",
        |v| {
            let m = v["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]}));
            m.push(
                json!({"destination": "/rec", "type": "bind", "source": src, "options": ["rbind"]}),
            );
        },
    );
    assert_eq!(out, "missing\ninner\n");
}

#[test]
fn dev_nodes_symlinks_and_linux_devices() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "dev",
        "for d in null zero full random urandom tty fuse; do stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done; \
         stat -c '%n %F %a' /dev/myfifo; \
         for l in fd stdin stdout stderr ptmx; do echo /dev/$l=$(readlink /dev/$l); done; \
         echo x > /dev/null && head -c 4 /dev/zero | wc -c",
        |v| {
            v["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 7, "gid": 8},
                {"path": "/dev/myfifo", "type": "p", "major": 0, "minor": 0, "fileMode": 0o600}
            ]);
        },
    );
    let want = "\
/dev/null character special file 1:3 666 0:0
/dev/zero character special file 1:5 666 0:0
/dev/full character special file 1:7 666 0:0
/dev/random character special file 1:8 666 0:0
/dev/urandom character special file 1:9 666 0:0
/dev/tty character special file 5:0 666 0:0
/dev/fuse character special file a:e5 640 7:8
/dev/myfifo fifo 600
/dev/fd=/proc/self/fd
/dev/stdin=/proc/self/fd/0
/dev/stdout=/proc/self/fd/1
/dev/stderr=/proc/self/fd/2
/dev/ptmx=pts/ptmx
4
";
    assert_eq!(out, want);
}

#[test]
fn pivot_root_hides_the_host_and_paths_are_masked() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "pivot",
        "test -e /etc/debian_version && echo host-visible; \
         awk '$5==\"/\"{print \"root=\" $4}' /proc/self/mountinfo; \
         echo keys=$(wc -c < /proc/keys); echo timer_list=$(wc -c < /proc/timer_list); \
         echo acpi=$(ls /proc/acpi | wc -l); touch /proc/acpi/x 2>/dev/null || echo acpi-ro; \
         awk '$5==\"/proc/keys\" || $5==\"/proc/acpi\" || $5==\"/proc/sys\" {print $5, $6}' /proc/self/mountinfo; \
         echo 1 > /proc/sys/kernel/printk 2>/dev/null || echo sys-ro",
        |_| {},
    );
    assert!(!out.contains("host-visible"), "{out}");
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_default()
            .to_owned()
    };
    // The root mount is the bundle's rootfs (a bind of that directory).
    assert!(line("root=").ends_with("/bundles/pivot/rootfs"), "{out}");
    // Masked files read as /dev/null, masked directories as an empty
    // read-only tmpfs; read-only paths refuse writes.
    assert_eq!(line("keys="), "keys=0", "{out}");
    assert_eq!(line("timer_list="), "timer_list=0", "{out}");
    assert_eq!(line("acpi="), "acpi=0", "{out}");
    assert!(out.contains("acpi-ro\n"), "{out}");
    assert!(line("/proc/acpi ").starts_with("/proc/acpi ro"), "{out}");
    assert!(line("/proc/sys ").starts_with("/proc/sys ro"), "{out}");
    assert!(out.ends_with("sys-ro\n"), "{out}");
}

#[test]
fn readonly_root_hostname_domainname_sysctl() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "ro",
        "touch /newfile 2>/dev/null || echo root-ro; touch /dev/shm/ok && echo shm-rw; \
         hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward",
        |v| {
            v["root"]["readonly"] = json!(true);
            v["hostname"] = json!("box1");
            v["domainname"] = json!("example.test");
            v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
    );
    assert_eq!(out, "root-ro\nshm-rw\nbox1\nexample.test\n1\n");
}

#[test]
fn rootfs_propagation() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let script = "awk '$5==\"/\"{for(i=7;i<=NF;i++){if($i==\"-\")break; printf \"%s \", $i}; print \"\"}' /proc/self/mountinfo";
    let shared = env.run_edited("pshared", script, |v| {
        v["linux"]["rootfsPropagation"] = json!("rshared")
    });
    assert!(shared.contains("shared:"), "{shared}");
    let private = env.run_edited("pprivate", script, |v| {
        v["linux"]["rootfsPropagation"] = json!("rprivate")
    });
    assert!(
        !private.contains("shared:") && !private.contains("master:"),
        "{private}"
    );
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroup() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "cgmount",
        "cat /proc/self/cgroup | grep -c ':/$'; ls /sys/fs/cgroup | head -50",
        |v| {
            v["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }));
            v["linux"]["resources"]["pids"] = json!({"limit": 77});
        },
    );
    let mut lines = out.lines();
    // Inside its cgroup namespace every hierarchy's path is "/".
    let at_root: usize = lines.next().unwrap().trim().parse().unwrap();
    assert!(at_root >= 1, "{out}");
    let entries: Vec<&str> = lines.collect();
    if std::path::Path::new("/sys/fs/cgroup/pids").is_dir() {
        assert!(entries.contains(&"pids"), "{out}");
        let limit = env.run_edited("cglimit", "cat /sys/fs/cgroup/pids/pids.max", |v| {
            v["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]
            }));
            v["linux"]["resources"]["pids"] = json!({"limit": 77});
        });
        assert_eq!(limit, "77\n");
    } else {
        assert!(entries.contains(&"cgroup.controllers"), "{out}");
    }
}

#[test]
fn symlinks_in_the_image_cannot_redirect_mounts_to_the_host() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let victim = env.dir("victim");
    std::fs::write(victim.join("keep"), "host data\n").unwrap();
    let b = env.bundle("symlink", "ls /evil; ls /rootfs-side 2>&1 | head -1");
    // /evil points far up and back to the host's victim dir.
    let target = format!("../../../../../../../..{}", victim.display());
    std::os::unix::fs::symlink(&target, b.join("rootfs/evil")).unwrap();
    edit_config(&b, |v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/evil", "type": "tmpfs", "source": "tmpfs"
        }));
    });
    let before = env.mounts_under(&victim);
    env.berth(&["run", "--bundle", b.to_str().unwrap(), "symlink"])
        .ok();
    assert_eq!(env.mounts_under(&victim), before);
    assert_eq!(
        std::fs::read_to_string(victim.join("keep")).unwrap(),
        "host data\n"
    );
    // The tmpfs landed inside the rootfs, where the link resolves when the
    // rootfs is the root.
    assert!(b
        .join("rootfs")
        .join(victim.strip_prefix("/").unwrap())
        .is_dir());
}

/// procfs and sysfs go only onto an ordinary directory: a rootfs whose
/// /proc or /sys is a symlink (to a directory of the image or dangling)
/// is refused, as runc refuses it (the CVE-2019-16884/19921 class: a proc
/// mounted through a link lands where the image chose, e.g. over a
/// directory that a later mount or the LSM setup trusts). Nothing is left.
#[test]
fn proc_and_sys_on_a_symlink_are_refused() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    for (name, dir, link) in [
        ("proc-link", "proc", "/fakeproc"),
        ("proc-dangling", "proc", "/nowhere/proc"),
        ("sys-link", "sys", "fakesys"),
    ] {
        let b = env.bundle(name, "true");
        let rootfs = b.join("rootfs");
        std::fs::create_dir_all(rootfs.join(link.trim_start_matches('/'))).ok();
        if link.starts_with("/nowhere") {
            std::fs::remove_dir_all(rootfs.join("nowhere")).unwrap();
        }
        let _ = std::fs::remove_dir(rootfs.join(dir));
        std::os::unix::fs::symlink(link, rootfs.join(dir)).unwrap();
        if dir == "sys" {
            edit_config(&b, |v| {
                v["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}),
                );
            });
        }
        let e = env
            .berth(&["run", "--bundle", b.to_str().unwrap(), name])
            .fails();
        assert!(e.contains("ordinary directory"), "{name}: {e}");
        assert!(e.contains(&format!("/{dir}")), "{name}: {e}");
        assert!(!env.root.join(name).exists(), "{name}: state left");
        assert!(!env.cgroup_exists(name), "{name}: cgroup left");
        assert!(!rootfs.join("nowhere").exists(), "{name}: link target made");
        if std::path::Path::new("/usr/sbin/runc").exists() {
            let r = env.runc(&["run", "--bundle", b.to_str().unwrap(), name]);
            assert_ne!(r.code, 0, "runc ran {name}: {r:?}");
            assert!(r.stderr.contains("ordinary directory"), "runc: {r:?}");
        }
    }
}

/// The same when the link appears only through an earlier mount of the
/// config (the plan sees the image on disk; the child checks again).
#[test]
fn proc_onto_a_symlink_from_an_earlier_mount_is_refused() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let late = env.dir("late");
    std::os::unix::fs::symlink("/fakeproc", late.join("proc")).unwrap();
    let b = env.bundle("late", "true");
    std::fs::create_dir_all(b.join("rootfs/fakeproc")).unwrap();
    edit_config(&b, |v| {
        let m = v["mounts"].as_array_mut().unwrap();
        m.push(
            json!({"destination": "/late", "type": "bind", "source": late, "options": ["rbind"]}),
        );
        m.push(json!({"destination": "/late/proc", "type": "proc", "source": "proc"}));
    });
    let e = env
        .berth(&["run", "--bundle", b.to_str().unwrap(), "late"])
        .fails();
    assert!(
        e.contains("ordinary directory") && e.contains("/late/proc"),
        "{e}"
    );
    assert!(!env.root.join("late").exists());
    if std::path::Path::new("/usr/sbin/runc").exists() {
        let r = env.runc(&["run", "--bundle", b.to_str().unwrap(), "late-runc"]);
        assert!(
            r.code != 0 && r.stderr.contains("ordinary directory"),
            "runc: {r:?}"
        );
    }
}

/// Mount destinations whose components are symlinks resolve with the
/// rootfs as `/`: an absolute link to a host path that exists, a dangling
/// absolute link (its target is made inside the rootfs) and a link as the
/// last component of a file bind.
#[test]
fn mount_destinations_through_symlinks_stay_in_the_rootfs() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let host_dir = env.dir("host-side");
    let data = env.dir("data");
    std::fs::write(data.join("file"), "bound\n").unwrap();
    let b = env.bundle(
        "links",
        "cat /abs/m/file /dangling/m/file /trail; grep -c ' /inside/m \\| /made/deep/m \\| /etc/target ' /proc/self/mountinfo",
    );
    let rootfs = b.join("rootfs");
    std::fs::create_dir_all(rootfs.join("inside")).unwrap();
    std::fs::write(rootfs.join("etc/target"), "").unwrap();
    // Absolute links: to a dir of the image, to the host's dir (which
    // must become <rootfs>/<that path>), dangling; a link as the last
    // component of a file bind.
    std::os::unix::fs::symlink("/inside", rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink(&host_dir, rootfs.join("hostlink")).unwrap();
    std::os::unix::fs::symlink("/made/deep", rootfs.join("dangling")).unwrap();
    std::os::unix::fs::symlink("/etc/target", rootfs.join("trail")).unwrap();
    edit_config(&b, |v| {
        let m = v["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/abs/m", "type": "bind", "source": data, "options": ["rbind", "ro"]}));
        m.push(json!({"destination": "/hostlink/m", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/dangling/m", "type": "bind", "source": data, "options": ["rbind", "ro"]}));
        m.push(json!({"destination": "/trail", "type": "bind", "source": data.join("file"), "options": ["bind", "ro"]}));
    });
    let before = env.mounts_under(&host_dir);
    let out = env
        .berth(&["run", "--bundle", b.to_str().unwrap(), "links"])
        .ok();
    assert_eq!(out, "bound\nbound\nbound\n3\n");
    assert_eq!(env.mounts_under(&host_dir), before);
    assert!(!host_dir.join("m").exists(), "made on the host");
    // The host path named by the link was made inside the rootfs instead.
    assert!(rootfs
        .join(host_dir.strip_prefix("/").unwrap())
        .join("m")
        .is_dir());
    assert!(rootfs.join("made/deep/m").is_dir());
}
