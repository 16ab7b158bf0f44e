//! The `berth-cni` binary itself, invoked under the plugin names as
//! scripts/install.sh links it: VERSION, a refused unknown name, and an
//! ADD/DEL of berth-bridge with berth-host-local inside a sandbox host.
//! (The plugins' behaviour in depth is tested through the `berth` binary,
//! which runs the same code, in crates/cli/tests/cni_*.rs.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testsupport::SandboxHost;

/// A directory of links named `names` to the berth-cni binary.
fn links(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-cni-bin-")
        .tempdir()
        .expect("tempdir");
    for n in names {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth-cni"), dir.path().join(n))
            .expect("symlink");
    }
    dir
}

fn command(plugin: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(plugin);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn feed(mut cmd: Command, stdin: &[u8]) -> std::io::Result<Output> {
    let mut child = cmd.spawn()?;
    if let Some(mut s) = child.stdin.take() {
        s.write_all(stdin)?;
    }
    child.wait_with_output()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {o:?}"))
}

#[test]
fn version_answers_under_a_plugin_name() {
    let dir = links(&["berth-bridge"]);
    let cmd = command(
        &dir.path().join("berth-bridge"),
        &[("CNI_COMMAND", "VERSION")],
    );
    let out = feed(cmd, br#"{"cniVersion":"1.0.0"}"#).expect("run");
    assert!(out.status.success(), "{out:?}");
    let v = json(&out);
    let supported: Vec<&str> = v["supportedVersions"]
        .as_array()
        .expect("supportedVersions")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(supported.contains(&"1.0.0"), "{v}");
    assert!(supported.contains(&"0.4.0"), "{v}");
}

#[test]
fn an_unknown_name_is_refused_with_status_2() {
    let dir = links(&["berth-nosuchplugin"]);
    let cmd = command(&dir.path().join("berth-nosuchplugin"), &[]);
    let out = feed(cmd, b"").expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("berth-nosuchplugin"), "{err}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn bridge_add_and_del_through_the_binary() {
    let host = SandboxHost::new().expect("sandbox host");
    let dir = links(&["berth-bridge", "berth-host-local"]);
    host.sh("ip netns add pb1").expect("ip netns add");
    let ipam: PathBuf = host.dirs().lib.join("ipam");
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "pbnet", "type": "berth-bridge",
        "bridge": "pbbr0", "isGateway": true, "ipMasq": false,
        "ipam": {"type": "berth-host-local", "subnet": "10.79.1.0/24",
                 "dataDir": ipam.to_string_lossy()}
    });
    let stdin = serde_json::to_vec(&conf).expect("json");
    let plugin = dir.path().join("berth-bridge");
    let path = dir.path().to_string_lossy().into_owned();
    let invoke = |verb: &'static str| -> Output {
        let cmd = command(
            &plugin,
            &[
                ("CNI_COMMAND", verb),
                ("CNI_CONTAINERID", "pb1"),
                ("CNI_NETNS", "/run/netns/pb1"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", path.as_str()),
            ],
        );
        let stdin = stdin.clone();
        host.enter(move || feed(cmd, &stdin))
            .expect("enter sandbox")
            .expect("run plugin")
    };
    let in_ns = |script: &str| -> Output {
        host.output(
            Command::new("nsenter")
                .arg("--net=/run/netns/pb1")
                .args(["sh", "-c", script]),
        )
        .expect("nsenter")
    };

    let add = invoke("ADD");
    assert!(add.status.success(), "{add:?}");
    let result = json(&add);
    let ip = result["ips"][0]["address"].as_str().expect("an address");
    assert!(ip.starts_with("10.79.1."), "{result}");
    let shown = in_ns("ip -o -4 addr show dev eth0");
    assert!(shown.status.success(), "{shown:?}");
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(ip),
        "{shown:?} lacks {ip}"
    );

    let del = invoke("DEL");
    assert!(del.status.success(), "{del:?}");
    assert!(
        !in_ns("ip link show dev eth0").status.success(),
        "eth0 left after DEL"
    );
    host.sh("ip netns del pb1").expect("ip netns del");
}
