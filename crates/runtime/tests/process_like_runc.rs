//! Process set-up where the spec leaves room and berth follows runc: the
//! environment (duplicates, HOME), the working directory of a user who
//! cannot reach it, ambient capabilities outside the inheritable set, the
//! console's owner, execve errors. Each compares with Debian's runc where
//! it is installed.
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

/// Runs `script` under `rt` ("berth" or "runc") with `edit` applied to
/// the config and `setup` to the bundle directory;
/// returns (exit code, stdout, stderr).
fn run(
    env: &Env,
    rt: &str,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value),
    setup: &dyn Fn(&Path),
) -> (i32, String, String) {
    let id = format!("{name}-{rt}");
    let b = env.bundle(&id, script);
    edit_config(&b, edit);
    setup(&b);
    let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
    let r = if rt == "berth" {
        env.berth(&args)
    } else {
        env.runc(&args)
    };
    (r.code, r.stdout, r.stderr)
}

/// Both runtimes' stdout for the same bundle (runc's only if installed),
/// each run required to succeed.
fn both(
    env: &Env,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value),
) -> (String, Option<String>) {
    both_with(env, name, script, edit, &|_| {})
}

/// [`both`] with `setup` run on each bundle directory before the run.
fn both_with(
    env: &Env,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value),
    setup: &dyn Fn(&Path),
) -> (String, Option<String>) {
    let (code, out, err) = run(env, "berth", name, script, edit, setup);
    assert_eq!(code, 0, "berth: {out}{err}");
    let theirs = have_runc().then(|| {
        let (code, out, err) = run(env, "runc", name, script, edit, setup);
        assert_eq!(code, 0, "runc: {out}{err}");
        out
    });
    (out, theirs)
}

/// Duplicate keys: set once, the last value, where the last one stood;
/// HOME empty or missing comes from /etc/passwd.
#[test]
fn env_duplicates_and_empty_home() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let (ours, theirs) = both(
        &env,
        "env",
        "tr '\\0' '\\n' < /proc/1/environ | grep -E '^(A|B|HOME)='",
        &|v| {
            v["process"]["env"] = json!(["PATH=/bin", "A=1", "HOME=", "B=2", "A=3"]);
        },
    );
    // runc 1.3's order (prepareEnv: each key where it last stood).
    assert_eq!(ours, "B=2\nA=3\nHOME=/root\n");
    // Debian's runc 1.1 keeps each key where it first stood: compare the
    // entries, not their order.
    if let Some(t) = theirs {
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&ours), sorted(&t));
    }
}

/// A cwd the process's user cannot enter: entered as root before the
/// user switch (runc too), for the init and for `exec --user`.
#[test]
fn cwd_the_user_cannot_enter() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value| {
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        v["process"]["cwd"] = json!("/secret");
    };
    let secret = |b: &Path| {
        let d = b.join("rootfs/secret");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    };
    let (ours, theirs) = both_with(&env, "cwd", "pwd; id -u", &edit, &secret);
    assert_eq!(ours, "/secret\n1000\n");
    if let Some(t) = theirs {
        assert_eq!(ours, t);
    }
    let b = env.bundle("cwd-exec", "exec sleep 1000");
    secret(&b);
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "cwd-exec"])
        .ok();
    let r = env.berth(&[
        "exec",
        "--user",
        "1000:1000",
        "--cwd",
        "/secret",
        "cwd-exec",
        "pwd",
    ]);
    env.berth(&["delete", "--force", "cwd-exec"]).ok();
    assert_eq!((r.code, r.stdout.as_str()), (0, "/secret\n"), "{r:?}");
}

/// An ambient capability outside the inheritable set: a warning naming
/// it, and the process runs without it (runc 1.3's "can't raise ambient
/// capability"; runc 1.1 says nothing and goes on too).
#[test]
fn ambient_outside_inheritable_warns_and_goes_on() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value| {
        let caps = json!(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
        v["process"]["capabilities"] = json!({
            "bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": ["CAP_CHOWN"],
            "ambient": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
        });
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    };
    let script = "grep CapAmb /proc/self/status";
    let (code, out, err) = run(&env, "berth", "amb", script, &edit, &|_| {});
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "CapAmb:\t0000000000000001\n");
    assert!(
        err.contains("can't raise ambient capability CAP_NET_BIND_SERVICE"),
        "{err}"
    );
    if have_runc() {
        let (code, theirs, err) = run(&env, "runc", "amb", script, &edit, &|_| {});
        assert_eq!((code, theirs.as_str()), (0, out.as_str()), "runc: {err}");
    }
}

/// Stdio and the console belong to the process user (runc's
/// fixStdioPermissions: the owner only; the group stays the mount's):
/// pipes as stdio compared with runc, and a terminal berth relays.
#[test]
fn stdio_and_console_owned_by_the_process_user() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value| v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let script = "stat -L -c %u /proc/self/fd/1 /proc/self/fd/2";
    let (ours, theirs) = both(&env, "stdio", script, &edit);
    assert_eq!(ours, "1000\n1000\n");
    if let Some(t) = theirs {
        assert_eq!(ours, t);
    }
    let b = env.bundle("tty", "stat -c '%u %g' $(tty)");
    edit_config(&b, |v| {
        edit(v);
        v["process"]["terminal"] = json!(true);
    });
    let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), "tty"]);
    assert_eq!(r.code, 0, "{r:?}");
    // devpts is mounted gid=5 (tty): the group stays.
    assert_eq!(r.stdout.replace('\r', ""), "1000 5\n");
}

/// An execve that fails after every check passed (an executable file the
/// kernel cannot run) names the file and the error, as runc does.
#[test]
fn execve_failure_names_the_file_and_errno() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let edit = |v: &mut Value| v["process"]["args"] = json!(["/bad", "arg"]);
    let bad = |b: &Path| {
        let f = b.join("rootfs/bad");
        std::fs::write(&f, b"\x7fELF not really\n").unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    let (code, out, err) = run(&env, "berth", "enoexec", "", &edit, &bad);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("exec /bad: Exec format error"), "{err}");
    assert!(!env.root.join("enoexec-berth").exists());
    if have_runc() {
        let (theirs, _, err) = run(&env, "runc", "enoexec", "", &edit, &bad);
        assert_eq!(theirs, code, "runc: {err}");
        assert!(err.contains("exec /bad: exec format error"), "runc: {err}");
    }
}
