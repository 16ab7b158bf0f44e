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

/// Runs `script` under `rt` ("berth" or "runc") with `edit` applied;
/// returns (exit code, stdout, stderr).
fn run(
    env: &Env,
    rt: &str,
    name: &str,
    script: &str,
    edit: &dyn Fn(&mut Value),
) -> (i32, String, String) {
    let id = format!("{name}-{rt}");
    let b = env.bundle(&id, script);
    edit_config(&b, edit);
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
    let (code, out, err) = run(env, "berth", name, script, edit);
    assert_eq!(code, 0, "berth: {out}{err}");
    let theirs = have_runc().then(|| {
        let (code, out, err) = run(env, "runc", name, script, edit);
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
