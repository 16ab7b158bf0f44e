//! runc's later `exec` flags and process-file fields: `--cap`, `--cgroup`,
//! `--ignore-paused`, a `--process` file without `user`, its
//! `consoleSize` and `ioPriority`; compared with Debian's runc where it
//! has them.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use runtime_support::{berth_bin, is_root, Env, Ran};

const RUNC: &str = "/usr/sbin/runc";

fn have_runc() -> bool {
    let ok = Path::new(RUNC).exists();
    if !ok {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
    }
    ok
}

fn running(env: &Env, rt: &str, id: &str) {
    let b = env.bundle(id, "echo ready > /out/ready; exec sleep 1000");
    let args = ["run", "-d", "--bundle", b.to_str().unwrap(), id];
    let r = match rt {
        "berth" => env.berth_bg(&args),
        _ => env.runc_bg(&args),
    };
    assert_eq!(r.code, 0, "{rt}: {r:?}");
}

fn cmd(env: &Env, rt: &str, args: &[&str]) -> Ran {
    match rt {
        "berth" => env.berth(args),
        _ => env.runc(args),
    }
}

/// The capability lines of /proc/self/status of an exec'd process.
const CAPS: &str = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status";

#[test]
fn cap_and_process_file_without_user_match_runc() {
    if !is_root() || !have_runc() {
        return;
    }
    let env = Env::new();
    let pf = env.dir("pf").join("process.json");
    // No "user": runc runs it as uid 0 / gid 0.
    std::fs::write(
        &pf,
        r#"{"args":["sh","-c","id -u; id -g"],"cwd":"/","env":["PATH=/bin"]}"#,
    )
    .unwrap();
    let mut seen = Vec::new();
    for rt in ["runc", "berth"] {
        let id = format!("xc-{rt}");
        running(&env, rt, &id);
        let plain = cmd(&env, rt, &["exec", &id, "sh", "-c", CAPS]).ok();
        let added = cmd(
            &env,
            rt,
            &[
                "exec",
                "--cap",
                "CAP_NET_ADMIN",
                "--cap",
                "CAP_SYS_TIME",
                &id,
                "sh",
                "-c",
                CAPS,
            ],
        )
        .ok();
        let user = cmd(&env, rt, &["exec", "--process", pf.to_str().unwrap(), &id]).ok();
        seen.push((plain, added, user));
        cmd(&env, rt, &["delete", "-f", &id]);
    }
    assert_eq!(seen[0], seen[1], "runc vs berth");
    let (plain, added, user) = &seen[1];
    assert_ne!(plain, added, "--cap changed nothing");
    let eff = |s: &str| {
        let hex = s.lines().find(|l| l.starts_with("CapEff:")).unwrap();
        u64::from_str_radix(hex.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_ne!(
        eff(added) & (1 << 12),
        0,
        "CAP_NET_ADMIN effective: {added}"
    );
    assert_ne!(eff(added) & (1 << 25), 0, "CAP_SYS_TIME effective: {added}");
    assert_eq!(user, "0\n0\n");
    let e = env.berth(&["exec", "--cap", "CAP_NOPE", "nope", "true"]);
    assert_eq!(e.code, 255, "{e:?}");
}

/// A process file's consoleSize sizes the exec's terminal; its ioPriority
/// is the process's I/O priority.
#[test]
fn process_file_console_size_and_io_priority() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "berth", "xp");
    let pf = env.dir("xp-pf").join("p.json");
    std::fs::write(
        &pf,
        r#"{"terminal":true,"consoleSize":{"height":33,"width":101},
            "args":["stty","size"],"cwd":"/","env":["PATH=/bin"]}"#,
    )
    .unwrap();
    let out = env
        .berth(&["exec", "--process", pf.to_str().unwrap(), "xp"])
        .ok();
    assert_eq!(out.trim(), "33 101", "{out:?}");
    std::fs::write(
        &pf,
        r#"{"args":["ionice","-p","0"],"cwd":"/","env":["PATH=/bin"],
            "ioPriority":{"class":"IOPRIO_CLASS_BE","priority":6}}"#,
    )
    .unwrap();
    let out = env
        .berth(&["exec", "--process", pf.to_str().unwrap(), "xp"])
        .ok();
    assert_eq!(out.trim(), "best-effort: prio 6", "{out:?}");
    env.berth(&["delete", "-f", "xp"]).ok();
}

/// `--cgroup`: the exec runs in an existing sub-cgroup of the container's
/// (one controller, or every hierarchy); a missing or escaping one is
/// refused with runc's exec exit code.
#[test]
fn cgroup_flag_puts_the_exec_in_a_sub_cgroup() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "berth", "xg");
    let rel = env.cgroups_path("xg");
    let mounts = berth_testsupport::cgroupfs::cgroup_mounts();
    let subs: Vec<PathBuf> = mounts
        .iter()
        .map(|m| m.join(rel.trim_start_matches('/')).join("sub"))
        .filter(|d| d.parent().is_some_and(Path::is_dir))
        .collect();
    for d in &subs {
        std::fs::create_dir(d).unwrap();
        if d.starts_with("/sys/fs/cgroup/cpuset") {
            // A new v1 cpuset cgroup starts empty: give it the parent's sets.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = std::fs::read_to_string(d.parent().unwrap().join(f)).unwrap();
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
    }
    let first = mounts[0].join(rel.trim_start_matches('/')).join("sub");
    let ctl = if Path::new("/sys/fs/cgroup/memory").is_dir() {
        "memory:sub"
    } else {
        "sub"
    };
    let out = env
        .berth(&["exec", "--cgroup", ctl, "xg", "cat", "/proc/self/cgroup"])
        .ok();
    assert!(
        out.lines()
            .any(|l| l.ends_with("/sub") && (l.contains(":memory:") || l.starts_with("0::"))),
        "{out}"
    );
    let out = env
        .berth(&["exec", "--cgroup", "sub", "xg", "cat", "/proc/self/cgroup"])
        .ok();
    assert!(
        out.lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.ends_with("/sub")),
        "every hierarchy: {out}"
    );
    assert!(first.exists());
    for bad in ["nope", "../escape"] {
        let r = env.berth(&["exec", "--cgroup", bad, "xg", "true"]);
        assert_eq!(r.code, 255, "{r:?}");
        assert!(r.stderr.contains("exec failed"), "{r:?}");
    }
    env.berth(&["kill", "--all", "xg", "KILL"]).ok();
    env.berth(&["delete", "-f", "xg"]).ok();
    for d in &subs {
        let _ = std::fs::remove_dir(d);
    }
}

/// Exec into a paused container is refused (runc's message and exit code)
/// unless `--ignore-paused`: then the process waits, frozen, for resume.
#[test]
fn ignore_paused_waits_for_resume() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "berth", "xz");
    env.berth(&["pause", "xz"]).ok();
    let r = env.berth(&["exec", "xz", "echo", "ok"]);
    assert_eq!(r.code, 255, "{r:?}");
    assert!(
        r.stderr
            .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{r:?}"
    );
    let mut c = Command::new(berth_bin());
    c.arg("runtime")
        .arg("--root")
        .arg(&env.root)
        .args([
            "exec",
            "--ignore-paused",
            "xz",
            "sh",
            "-c",
            "echo ok > /out/exec",
        ])
        .stdin(Stdio::null());
    let child = env.host.spawn(&mut c).unwrap();
    // The exec's process has joined the frozen cgroup (so it is frozen
    // before it could write) before the container is resumed.
    let procs = PathBuf::from("/sys/fs/cgroup/freezer")
        .join(env.cgroups_path("xz").trim_start_matches('/'))
        .join("cgroup.procs");
    let procs = if procs.exists() {
        procs
    } else {
        PathBuf::from("/sys/fs/cgroup")
            .join(env.cgroups_path("xz").trim_start_matches('/'))
            .join("cgroup.procs")
    };
    let mut joined = false;
    for _ in 0..1000 {
        if std::fs::read_to_string(&procs)
            .unwrap_or_default()
            .lines()
            .count()
            >= 2
        {
            joined = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(joined, "the exec never joined the paused container");
    assert_eq!(env.state("xz")["status"], "paused");
    assert_eq!(env.read_out("xz", "exec"), "", "a frozen exec ran");
    env.berth(&["resume", "xz"]).ok();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(env.read_out("xz", "exec"), "ok\n");
    env.berth(&["delete", "-f", "xz"]).ok();
}

/// A process file's `scheduler` (and the config's, for the init) is set
/// with sched_setattr before the process runs; values the kernel refuses
/// fail the exec with the reason.
#[test]
fn process_scheduler_for_exec_and_init() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "xs",
        "grep -E '^policy' /proc/self/sched > /out/init; exec sleep 1000",
    );
    runtime_support::edit_config(&b, |v| {
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_IDLE"});
    });
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "xs"])
        .ok();
    let mut seen = String::new();
    for _ in 0..500 {
        seen = env.read_out("xs", "init");
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        seen.split_whitespace().last(),
        Some("5"),
        "init policy: {seen:?}"
    );

    let pf = env.dir("xs-pf").join("p.json");
    std::fs::write(
        &pf,
        r#"{"args":["sh","-c","grep -E '^policy' /proc/self/sched; cut -d' ' -f19 /proc/self/stat"],"cwd":"/",
            "env":["PATH=/bin"],"scheduler":{"policy":"SCHED_BATCH","nice":7}}"#,
    )
    .unwrap();
    let out = env
        .berth(&["exec", "--process", pf.to_str().unwrap(), "xs"])
        .ok();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.last(), Some(&"7"), "{out}");
    assert!(
        out.lines().next().unwrap().ends_with(" 3"),
        "SCHED_BATCH: {out}"
    );
    std::fs::write(
        &pf,
        r#"{"args":["true"],"cwd":"/","env":["PATH=/bin"],"scheduler":{"policy":"SCHED_FIFO","priority":0}}"#,
    )
    .unwrap();
    let r = env.berth(&["exec", "--process", pf.to_str().unwrap(), "xs"]);
    assert_eq!(r.code, 255, "{r:?}");
    // runc's wording.
    assert!(r.stderr.contains("error setting scheduler"), "{r:?}");
    env.berth(&["delete", "-f", "xs"]).ok();
}
