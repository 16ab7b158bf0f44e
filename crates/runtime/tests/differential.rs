//! Differential tests: the same bundle under Debian's runc and under
//! berth; what the container sees (identity, hostname, mounts, capability
//! sets, rlimits, cgroup limits) and the state JSON must agree.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::collections::BTreeMap;
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

/// What a container reports about itself, one `key=value` per line.
const PROBE: &str = r#"
echo "id=$(id)"
echo "hostname=$(hostname)"
echo "cwd=$(pwd)"
for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do
  echo "$k=$(grep "^$k:" /proc/self/status | cut -f2)"
done
grep -E '^Max (open files|processes|core file size|stack size)' /proc/self/limits | tr -s ' ' | sed 's/^/limit=/'
echo "umask=$(umask)"
awk '{ sep=0; for (i=7;i<=NF;i++) if ($i=="-") sep=i; print "mount=" $5 " " $(sep+1) " " $6 }' /proc/self/mountinfo | sort
for f in null zero full random urandom tty; do echo "dev=$(stat -c '%n %t:%T %a' /dev/$f)"; done
for l in fd stdin stdout stderr ptmx; do echo "link=/dev/$l -> $(readlink /dev/$l)"; done
echo "pidns-init=$(cat /proc/1/comm)"
echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
"#;

/// Runs PROBE in a container under `rt` ("berth" or "runc") and returns
/// the probe's lines.
fn probe(env: &Env, rt: &str, name: &str, edit: &dyn Fn(&mut Value)) -> Vec<String> {
    let id = format!("{name}-{rt}");
    let b = env.bundle(&id, &format!("{{ {PROBE} }} > /out/probe 2>&1"));
    edit_config(&b, |v| {
        edit(v);
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
    });
    let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
    match rt {
        "berth" => env.berth(&args).ok(),
        _ => env.runc(&args).ok(),
    };
    env.read_out(&id, "probe")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Deliberate differences, normalised before comparing. For a `cgroup`
/// mount with `ro` on a hybrid host, runc 1.1 leaves the tmpfs at
/// /sys/fs/cgroup writable and skips the cgroup2 (`unified`) hierarchy;
/// berth applies `ro` to the tmpfs too (the config asks for a read-only
/// mount) and mirrors the host's whole layout, `unified` (where hugetlb
/// lives on this machine kind) included.
fn normalise(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.starts_with("mount=/sys/fs/cgroup/unified "))
        .map(|l| {
            if l.starts_with("mount=/sys/fs/cgroup tmpfs ") {
                l.replace(" ro,", " rw,")
            } else {
                l
            }
        })
        .collect()
}

fn compare(name: &str, edit: &dyn Fn(&mut Value)) -> Vec<String> {
    let env = Env::new();
    let berth = normalise(probe(&env, "berth", name, edit));
    let runc = normalise(probe(&env, "runc", name, edit));
    assert!(!berth.is_empty() && !runc.is_empty());
    let only_berth: Vec<&String> = berth.iter().filter(|l| !runc.contains(l)).collect();
    let only_runc: Vec<&String> = runc.iter().filter(|l| !berth.contains(l)).collect();
    assert!(
        only_berth.is_empty() && only_runc.is_empty(),
        "{name}: berth and runc differ\nonly berth: {only_berth:#?}\nonly runc: {only_runc:#?}"
    );
    berth
}

#[test]
fn default_bundle_looks_the_same() {
    if !is_root() || !have_runc() {
        return;
    }
    let seen = compare("default", &|_| {});
    assert!(seen.contains(&"hostname=berth".to_owned()), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.starts_with("mount=/proc proc ")),
        "{seen:#?}"
    );
}

#[test]
fn user_caps_limits_look_the_same() {
    if !is_root() || !have_runc() {
        return;
    }
    let seen = compare("tuned", &|v| {
        v["hostname"] = json!("tuned-host");
        v["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 7]});
        v["process"]["cwd"] = json!("/tmp");
        v["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_NET_RAW"],
            "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
            "ambient": ["CAP_NET_RAW"]
        });
        v["process"]["noNewPrivileges"] = json!(true);
        v["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
            {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
        v["linux"]["resources"]["memory"] = json!({"limit": 134217728});
        v["linux"]["resources"]["pids"] = json!({"limit": 99});
        v["root"]["readonly"] = json!(false);
    });
    for want in [
        "hostname=tuned-host",
        "memory=134217728",
        "pids=99",
        "id=uid=1000 gid=1000 groups=5,7",
        "cwd=/tmp",
        "NoNewPrivs=1",
    ] {
        assert!(seen.iter().any(|l| l == want), "no {want:?} in {seen:#?}");
    }
}

/// The state JSON of a created, then running, then stopped container.
fn states(env: &Env, rt: &str) -> Vec<Value> {
    let id = format!("st-{rt}");
    let b = env.bundle(&id, "read line < /out/go; exit 0");
    edit_config(&b, |v| {
        v["annotations"] = json!({"org.example.key": "value"});
    });
    let out = env.out(&id);
    let go = out.join("go");
    // A fifo the container blocks on until we write it.
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    let cli = |args: &[&str]| match rt {
        "berth" => env.berth(args),
        _ => env.runc(args),
    };
    let bg = |args: &[&str]| match rt {
        "berth" => env.berth_bg(args),
        _ => env.runc_bg(args),
    };
    bg(&["create", "--bundle", b.to_str().unwrap(), &id]).ok();
    let mut seen = vec![serde_json::from_str::<Value>(&cli(&["state", &id]).ok()).unwrap()];
    cli(&["start", &id]).ok();
    seen.push(serde_json::from_str(&cli(&["state", &id]).ok()).unwrap());
    std::fs::write(&go, "go\n").unwrap();
    for _ in 0..500 {
        let s: Value = serde_json::from_str(&cli(&["state", &id]).ok()).unwrap();
        if s["status"] == "stopped" {
            seen.push(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cli(&["delete", &id]).ok();
    seen
}

fn shape(v: &Value, rt: &str) -> BTreeMap<String, Value> {
    let mut m: BTreeMap<String, Value> = v.as_object().unwrap().clone().into_iter().collect();
    // Values that differ by nature: time, PID, paths named after the runtime.
    let created = m.remove("created").unwrap();
    assert!(created.as_str().unwrap().ends_with('Z'));
    let pid = m.remove("pid").unwrap();
    if m["status"] == "stopped" {
        assert_eq!(pid, 0);
    } else {
        assert!(pid.as_i64().unwrap() > 0);
    }
    for k in ["id", "bundle", "rootfs"] {
        let s = m[k].as_str().unwrap().replace(&format!("st-{rt}"), "st-X");
        m.insert(k.into(), json!(s));
    }
    m.remove("ociVersion");
    m
}

#[test]
fn state_json_matches_runc() {
    if !is_root() || !have_runc() {
        return;
    }
    let env = Env::new();
    let berth = states(&env, "berth");
    let runc = states(&env, "runc");
    assert_eq!(berth.len(), 3, "{berth:?}");
    assert_eq!(runc.len(), 3, "{runc:?}");
    for (b, r) in berth.iter().zip(&runc) {
        assert_eq!(
            shape(b, "berth"),
            shape(r, "runc"),
            "\nberth: {b}\nrunc: {r}"
        );
    }
}
