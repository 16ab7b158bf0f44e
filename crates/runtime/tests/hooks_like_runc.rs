//! Hook details the spec leaves open, as runc does them: a failing
//! prestart/createRuntime hook fails `create` and removes the container
//! (poststop hooks run), hooks without `env` inherit an environment
//! (startContainer: the container process's; runtime-side hooks: the
//! runtime's), and createContainer hooks run in the rootfs directory.
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

fn sh_hook(script: String) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// `create` under `rt` with `hooks`; returns its result.
fn create(env: &Env, rt: &str, id: &str, hooks: Value, script: &str) -> runtime_support::Ran {
    let b = env.bundle(id, script);
    edit_config(&b, |v| v["hooks"] = hooks);
    let args = ["create", "--bundle", b.to_str().unwrap(), id];
    if rt == "berth" {
        env.berth_bg(&args)
    } else {
        env.runc_bg(&args)
    }
}

#[test]
fn failing_prestart_or_create_runtime_removes_the_container() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let rec = env.dir("rec");
    let mut rts = vec![];
    if have_runc() {
        rts.push("runc");
    }
    rts.push("berth");
    for kind in ["prestart", "createRuntime"] {
        for rt in &rts {
            let id = format!("{kind}-{rt}").to_lowercase();
            let stop = rec.join(format!("{id}.poststop"));
            let hooks = json!({
                kind: [sh_hook("echo hook-out; echo hook-err >&2; exit 3".into())],
                "poststop": [sh_hook(format!("cat > {}", stop.display()))]
            });
            let r = create(&env, rt, &id, hooks, "true");
            assert_ne!(r.code, 0, "{rt} {kind}: {r:?}");
            assert!(r.stderr.contains("hook-err"), "{rt} {kind}: {r:?}");
            let root = if *rt == "berth" {
                env.root.clone()
            } else {
                env.runc_root()
            };
            assert!(!root.join(&id).exists(), "{rt} {kind}: state left");
            assert!(!env.cgroup_exists(&id), "{rt} {kind}: cgroup left");
            let st: Value =
                serde_json::from_str(&std::fs::read_to_string(&stop).unwrap_or_default())
                    .unwrap_or(Value::Null);
            assert_eq!(st["id"], id.as_str(), "{rt} {kind}: poststop did not run");
        }
    }
}

/// Runs `run` under `rt` with HOOK_PARENT_VAR in the runtime's own
/// environment; the container must exit 0.
fn run_with_var(env: &Env, rt: &str, b: &Path, id: &str) {
    let mut c = if rt == "berth" {
        let mut c = std::process::Command::new(runtime_support::berth_bin());
        c.arg("runtime").arg("--root").arg(&env.root);
        c
    } else {
        let mut c = std::process::Command::new(RUNC);
        c.arg("--root").arg(env.runc_root());
        c
    };
    c.args(["run", "--bundle", b.to_str().unwrap(), id])
        .env("HOOK_PARENT_VAR", "from-the-runtime")
        .stdin(std::process::Stdio::null());
    let out = env.host.output(&mut c).unwrap();
    assert!(out.status.success(), "{rt}: {out:?}");
}

/// Hooks without `env`: startContainer ones get the container process's
/// environment, runtime-side ones (prestart here) the runtime's;
/// createContainer ones run in the rootfs directory. Hooks with `env`
/// get exactly it.
#[test]
fn hook_env_and_cwd_as_runc() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let mut rts = vec!["berth"];
    if have_runc() {
        rts.push("runc");
    }
    for rt in rts {
        let id = format!("envcwd-{rt}");
        let rec = env.dir(&format!("rec-{rt}"));
        let b = env.bundle(&id, "true");
        let r = rec.display();
        edit_config(&b, |v| {
            v["process"]["env"] = json!(["PATH=/bin", "PROCESS_VAR=from-the-process"]);
            v["hooks"] = json!({
                "prestart": [sh_hook(format!("echo \"[$HOOK_PARENT_VAR]\" > {r}/prestart"))],
                "createContainer": [sh_hook(format!("pwd > {r}/create.cwd"))],
                "startContainer": [
                    sh_hook("echo \"[$PROCESS_VAR]\" > /out/start".into()),
                    {"path": "/bin/sh", "args": ["sh", "-c", "echo \"[$PROCESS_VAR][$OWN]\" > /out/start-own"],
                     "env": ["OWN=own"]}
                ]
            });
        });
        run_with_var(&env, rt, &b, &id);
        let read = |p: std::path::PathBuf| {
            std::fs::read_to_string(&p).unwrap_or_else(|e| format!("{}: {e}", p.display()))
        };
        assert_eq!(read(rec.join("prestart")), "[from-the-runtime]\n", "{rt}");
        assert_eq!(
            read(rec.join("create.cwd")).trim_end(),
            b.join("rootfs").to_str().unwrap(),
            "{rt}"
        );
        assert_eq!(env.read_out(&id, "start"), "[from-the-process]\n", "{rt}");
        assert_eq!(env.read_out(&id, "start-own"), "[][own]\n", "{rt}");
    }
}
