//! Mount details as runc does them: tmpfs takes the mode of its mount
//! point, `tmpcopyup`, bind sources that an earlier mount of the same
//! config creates, a read-only /dev with devpts under it, and
//! `rootfsPropagation: shared`. Each compared with Debian's runc where it
//! is installed.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{edit_config, is_root, Env};
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

fn have_runc() -> bool {
    let ok = Path::new(RUNC).exists();
    if !ok {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
    }
    ok
}

/// Exit code, stdout, stderr.
type Outcome = (i32, String, String);

/// Runs `script` under `rt` with `edit` applied to the config and
/// `setup` to the bundle dir; returns (code, stdout, stderr).
fn run(
    env: &Env,
    rt: &str,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value, &Path),
    setup: &dyn Fn(&Path),
) -> Outcome {
    let id = format!("{name}-{rt}");
    let b = env.bundle(&id, script);
    edit_config(&b, |v| edit(v, &b));
    setup(&b);
    let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
    let r = if rt == "berth" {
        env.berth(&args)
    } else {
        env.runc(&args)
    };
    (r.code, r.stdout, r.stderr)
}

/// Both runtimes' results for the same bundle (runc's when installed).
fn both(
    env: &Env,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value, &Path),
    setup: &dyn Fn(&Path),
) -> (Outcome, Option<Outcome>) {
    let ours = run(env, "berth", name, script, edit, setup);
    let theirs = have_runc().then(|| run(env, "runc", name, script, edit, setup));
    (ours, theirs)
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// A tmpfs on an existing directory takes its mode (runc 1.3 puts
/// `mode=` of the mount point before the config's options, so an explicit
/// `mode=` still wins; runc 1.1 chmods afterwards, so only the inherited
/// case is compared with it).
#[test]
fn tmpfs_takes_the_mode_of_its_mount_point() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value, _: &Path| {
        let m = v["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/sticky", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]}));
        m.push(json!({"destination": "/fresh", "type": "tmpfs", "source": "tmpfs"}));
    };
    let setup = |b: &Path| {
        for d in ["sticky", "private"] {
            std::fs::create_dir_all(b.join("rootfs").join(d)).unwrap();
        }
        set_mode(&b.join("rootfs/sticky"), 0o1710);
        set_mode(&b.join("rootfs/private"), 0o750);
    };
    let script = "stat -c %a /sticky /private /fresh";
    let (ours, theirs) = both(&env, "tmode", script, &edit, &setup);
    assert_eq!(ours.0, 0, "{ours:?}");
    // A mount point made for the tmpfs: tmpfs's own default, 1777.
    assert_eq!(ours.1, "1710\n700\n1777\n");
    if let Some(t) = theirs {
        assert_eq!(t.0, 0, "runc: {t:?}");
        assert_eq!(t.1.lines().next(), Some("1710"), "runc: {t:?}");
    }
}

/// `/dev` (and any tmpfs) mounted read-only still gets devpts, shm,
/// mqueue and the device nodes inside: it becomes read-only last.
#[test]
fn read_only_dev_with_devpts_under_it() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value, _: &Path| {
        for m in v["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
        v["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/rotmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}),
        );
    };
    let script = "ls /dev/pts/ptmx /dev/null /dev/shm; touch /dev/x 2>/dev/null && echo dev-writable; \
                  touch /rotmp/x 2>/dev/null && echo tmp-writable; \
                  awk '$5==\"/dev\" || $5==\"/rotmp\" {print $5, substr($6,1,2)}' /proc/self/mountinfo";
    let (ours, theirs) = both(&env, "rodev", script, &edit, &|_| {});
    assert_eq!(ours.0, 0, "{ours:?}");
    assert_eq!(
        ours.1, "/dev/null\n/dev/pts/ptmx\n\n/dev/shm:\n/dev ro\n/rotmp ro\n",
        "{ours:?}"
    );
    if let Some(t) = theirs {
        assert_eq!(t.1, ours.1, "runc: {t:?}");
    }
}

/// A bind source that only an earlier mount of the config makes (here a
/// directory inside an earlier bind) is looked at when its turn comes.
#[test]
fn bind_source_made_by_an_earlier_mount() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value, b: &Path| {
        let m = v["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/first", "type": "bind", "source": b.join("outside"), "options": ["rbind"]}));
        m.push(json!({"destination": "/second", "type": "bind", "source": b.join("rootfs/first/made"), "options": ["rbind"]}));
        m.push(json!({"destination": "/third", "type": "bind", "source": b.join("rootfs/first/file"), "options": ["bind"]}));
    };
    let setup = |b: &Path| {
        std::fs::create_dir_all(b.join("outside/made")).unwrap();
        std::fs::write(b.join("outside/made/inner"), "inner\n").unwrap();
        std::fs::write(b.join("outside/file"), "file\n").unwrap();
    };
    let (ours, theirs) = both(&env, "order", "cat /second/inner /third", &edit, &setup);
    assert_eq!((ours.0, ours.1.as_str()), (0, "inner\nfile\n"), "{ours:?}");
    if let Some(t) = theirs {
        assert_eq!(t.1, ours.1, "runc: {t:?}");
    }
}

/// `tmpcopyup`: the tmpfs starts with what its mount point held (files,
/// directories with their modes and owners, symlinks as symlinks), and
/// writes go to the tmpfs, not the image.
#[test]
fn tmpcopyup_fills_the_tmpfs() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value, _: &Path| {
        v["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}),
        );
    };
    let setup = |b: &Path| {
        let t = b.join("rootfs/t");
        std::fs::create_dir_all(t.join("sub")).unwrap();
        std::fs::write(t.join("keep"), "kept\n").unwrap();
        std::fs::write(t.join("sub/f"), "deep\n").unwrap();
        set_mode(&t.join("sub"), 0o750);
        set_mode(&t.join("sub/f"), 0o604);
        std::os::unix::fs::chown(t.join("sub/f"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.join("link")).unwrap();
    };
    let script = "cat /t/keep /t/sub/f; stat -c '%a %u' /t/sub /t/sub/f; readlink /t/link; \
                  touch /t/new && echo written; grep -c ' /t tmpfs\\| /t .* - tmpfs ' /proc/self/mountinfo";
    let (ours, theirs) = both(&env, "copyup", script, &edit, &setup);
    assert_eq!(ours.0, 0, "{ours:?}");
    assert_eq!(
        ours.1, "kept\ndeep\n750 0\n604 1000\n/etc/passwd\nwritten\n1\n",
        "{ours:?}"
    );
    let rootfs = env.host.root().join("bundles/copyup-berth/rootfs/t");
    assert!(!rootfs.join("new").exists(), "the write reached the image");
    if let Some(t) = theirs {
        assert_eq!(t.1, ours.1, "runc: {t:?}");
    }
}

/// Id-mapped binds (runc 1.2+; Debian's runc 1.1 has none, so no
/// comparison): files owned by on-disk id c appear as the id the mount's
/// mapping gives for c; ids outside the mapping appear as the overflow id.
/// `ridmap` maps the submounts of an rbind too. Without mappings on the
/// mount or the container it is refused with a clear error.
#[test]
fn idmapped_binds() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let data = env.dir("idm");
    std::fs::write(data.join("root-owned"), "x").unwrap();
    std::fs::write(data.join("other"), "y").unwrap();
    std::os::unix::fs::chown(data.join("other"), Some(4242), Some(4242)).unwrap();
    // A submount, which only the recursive ridmap of an rbind carries.
    std::fs::create_dir_all(data.join("sub")).unwrap();
    env.host
        .sh(&format!(
            "mount -t tmpfs tmpfs {0}/sub && touch {0}/sub/f",
            data.display()
        ))
        .unwrap();
    let maps = |h: u32| json!([{"containerID": 0, "hostID": h, "size": 1}]);
    let script =
        "stat -c '%u %g' /idm/root-owned /idm/other /ridm/root-owned /ridm/sub/f /plain/root-owned";
    let (code, out, err) = run(
        &env,
        "berth",
        "idmap",
        script,
        &|v, _| {
            let m = v["mounts"].as_array_mut().unwrap();
            m.push(json!({"destination": "/idm", "type": "bind", "source": data, "options": ["bind", "idmap"],
                          "uidMappings": maps(1000), "gidMappings": maps(2000)}));
            m.push(json!({"destination": "/ridm", "type": "bind", "source": data, "options": ["rbind", "ridmap"],
                          "uidMappings": maps(3000), "gidMappings": maps(3000)}));
            m.push(json!({"destination": "/plain", "type": "bind", "source": data, "options": ["bind"]}));
        },
        &|_| {},
    );
    let _ = env.host.sh(&format!("umount {}/sub", data.display()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1000 2000\n65534 65534\n3000 3000\n3000 3000\n0 0\n");

    let (code, _, err) = run(
        &env,
        "berth",
        "idmap-nomaps",
        "true",
        &|v, _| {
            v["mounts"].as_array_mut().unwrap().push(
                json!({"destination": "/idm", "type": "bind", "source": data, "options": ["bind", "idmap"]}),
            );
        },
        &|_| {},
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("idmap needs uidMappings and gidMappings"),
        "{err}"
    );
    assert!(!env.root.join("idmap-nomaps-berth").exists());
}

/// `rootfsPropagation` (`shared`, `rshared`, `slave`, `private`): the
/// propagation of `/` and of a bind mount inside the container, as
/// mountinfo shows it (peer group numbers dropped). `shared` and
/// `rshared` make the container's `/` shared, as runc applies them after
/// pivot_root since 1.3.3 (before, and in Debian's runc 1.1, the
/// pivoted root stayed private whatever was asked, so those two are not
/// compared); `slave` and `private` are compared with Debian's runc.
#[test]
fn rootfs_propagation_as_runc() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let src = env.dir("propagation-src");
    let script = "awk '$5==\"/\" || $5==\"/data\" {p=\"\"; for(i=7;i<=NF;i++){if($i==\"-\")break; \
                  sub(/:[0-9]+/,\"\",$i); p=p\" \"$i}; print $5 p}' /proc/self/mountinfo";
    for prop in ["shared", "rshared", "slave", "private"] {
        let src = src.clone();
        let edit = move |v: &mut Value, _: &Path| {
            v["linux"]["rootfsPropagation"] = json!(prop);
            v["mounts"].as_array_mut().unwrap().push(
                json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind"]}),
            );
        };
        let (ours, theirs) = both(&env, &format!("prop-{prop}"), script, &edit, &|_| {});
        assert_eq!(ours.0, 0, "{prop}: {ours:?}");
        let root = ours.1.lines().find(|l| l.starts_with("/ ") || *l == "/");
        match prop {
            "shared" | "rshared" => assert!(
                root.is_some_and(|l| l.contains("shared")),
                "{prop}: {ours:?}"
            ),
            _ => assert!(
                root.is_some_and(|l| !l.contains("shared")),
                "{prop}: {ours:?}"
            ),
        }
        if let Some(t) = theirs.filter(|_| !prop.ends_with("shared")) {
            assert_eq!(t.0, 0, "runc, {prop}: {t:?}");
            assert_eq!(ours.1, t.1, "{prop}: berth vs runc");
        }
    }
}
