//! Device cgroup rules as runc reads them: an access is required, and a
//! rule of type `a` resets everything whatever its access says. Compared
//! with Debian's runc where it is installed.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{edit_config, is_root, Env};
use serde_json::{json, Value};

/// What the container's devices cgroup allows (sorted devices.list) and
/// whether it may read /dev/urandom, under `rt`; or the error line.
fn devices(env: &Env, rt: &str, id: &str, rules: &Value) -> Result<String, String> {
    let b = env.bundle(
        id,
        "sort /sys/fs/cgroup/devices/devices.list | tr '\\n' ' '; head -c1 /dev/urandom >/dev/null && echo urandom-ok",
    );
    edit_config(&b, |v| {
        v["linux"]["resources"]["devices"] = rules.clone();
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]
        }));
    });
    let args = ["run", "--bundle", b.to_str().unwrap(), id];
    let r = if rt == "berth" {
        env.berth(&args)
    } else {
        env.runc(&args)
    };
    if r.code == 0 {
        Ok(r.stdout)
    } else {
        Err(r.stderr)
    }
}

#[test]
fn device_rules_read_as_runc() {
    if !is_root() {
        return;
    }
    if !Path::new("/sys/fs/cgroup/devices").exists() {
        berth_testsupport::kernel::report_skip("no cgroup v1 devices controller here");
        return;
    }
    let env = Env::new();
    let runc = Path::new("/usr/sbin/runc").exists();
    // A partial deny of type `a` is a deny-all; the defaults come after.
    let partial = json!([{"allow": false, "type": "a", "access": "r"}]);
    let ours = devices(&env, "berth", "partial-berth", &partial).unwrap();
    assert!(ours.ends_with("urandom-ok\n"), "{ours}");
    assert!(!ours.contains("a *:*"), "{ours}");
    if runc {
        assert_eq!(Ok(ours), devices(&env, "runc", "partial-runc", &partial));
    }
    // A rule without an access is refused, naming its index; nothing left.
    let empty =
        json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 8}]);
    let e = devices(&env, "berth", "empty-berth", &empty).unwrap_err();
    assert!(
        e.contains("device access at 1") && e.contains("cannot be empty"),
        "{e}"
    );
    assert!(!env.root.join("empty-berth").exists());
    assert!(!env.cgroup_exists("empty-berth"));
    if runc {
        let e = devices(&env, "runc", "empty-runc", &empty).unwrap_err();
        assert!(
            e.contains("device access at 1 field cannot be empty"),
            "runc: {e}"
        );
    }
}
