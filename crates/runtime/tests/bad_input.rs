//! Bad input: each case is a one-line error naming the problem, a non-zero
//! exit, and nothing left behind (state dir, cgroup, mount, process).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{edit_config, is_root, Env};
use serde_json::json;

/// Runs `create` for `id` on `bundle`, expects a one-line error containing
/// `want`, and checks that nothing was left behind.
fn refused(env: &Env, bundle: &Path, id: &str, want: &str) {
    let mounts_before = env.mounts_under(env.host.root());
    let r = env.berth_bg(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    let line = r.fails();
    assert!(line.contains(want), "want {want:?} in {line:?}");
    assert!(!env.root.join(id).exists(), "state dir left for {id}");
    assert!(!env.cgroup_exists(id), "cgroup left for {id}");
    assert_eq!(
        env.mounts_under(env.host.root()),
        mounts_before,
        "mounts left for {id}"
    );
    let list = env.berth(&["list", "-q"]).ok();
    assert!(!list.lines().any(|l| l == id), "{id} listed");
}

#[test]
fn config_problems() {
    if !is_root() {
        return;
    }
    let env = Env::new();

    let b = env.bundle("noconfig", "true");
    std::fs::remove_file(b.join("config.json")).unwrap();
    refused(&env, &b, "noconfig", "has no config.json");

    let b = env.bundle("malformed", "true");
    std::fs::write(b.join("config.json"), "{\"ociVersion\": \"1.2.0\", ").unwrap();
    refused(&env, &b, "malformed", "malformed config.json");

    let b = env.bundle("badtype", "true");
    edit_config(&b, |v| v["process"]["args"] = json!("not-an-array"));
    refused(&env, &b, "badtype", "malformed config.json");

    let b = env.bundle("unknownns", "true");
    edit_config(&b, |v| {
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}))
    });
    refused(&env, &b, "unknownns", "unknown namespace type \"bogus\"");

    let b = env.bundle("escape", "true");
    edit_config(&b, |v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp/../../../etc/evil", "type": "tmpfs", "source": "tmpfs"
        }))
    });
    refused(&env, &b, "escape", "escapes the rootfs");

    let b = env.bundle("norootfs", "true");
    std::fs::remove_dir_all(b.join("rootfs")).unwrap();
    refused(&env, &b, "norootfs", "rootfs");

    let b = env.bundle("newer", "true");
    edit_config(&b, |v| v["ociVersion"] = json!("1.9.0"));
    refused(&env, &b, "newer", "newer than the newest supported");

    let b = env.bundle("badid", "true");
    refused(&env, &b, "bad/id", "invalid container id");
}

#[test]
fn failures_inside_the_child_clean_up() {
    if !is_root() {
        return;
    }
    let env = Env::new();

    let b = env.bundle("nocmd", "true");
    edit_config(&b, |v| v["process"]["args"] = json!(["/no/such/program"]));
    refused(
        &env,
        &b,
        "nocmd",
        "executable \"/no/such/program\" not found",
    );

    let b = env.bundle("badmount", "true");
    edit_config(&b, |v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/x", "type": "nosuchfs", "source": "none"
        }))
    });
    refused(&env, &b, "badmount", "mounting /x (nosuchfs)");

    let b = env.bundle("badsrc", "true");
    edit_config(&b, |v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]
        }))
    });
    refused(
        &env,
        &b,
        "badsrc",
        "bind source /no/such/dir does not exist",
    );

    let b = env.bundle("badns", "true");
    edit_config(&b, |v| {
        let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "network", "path": "/proc/self/ns/uts"}));
    });
    refused(&env, &b, "badns", "is not a network namespace");

    let b = env.bundle("badhook", "true");
    edit_config(&b, |v| {
        v["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    refused(&env, &b, "badhook", "createRuntime hook /bin/false exited");

    let b = env.bundle("badcwd", "true");
    edit_config(&b, |v| v["process"]["cwd"] = json!("relative"));
    refused(&env, &b, "badcwd", "not an absolute path");
}
