//! The runtime role's command line as engines meet it: the `berth-runc`
//! binary run through its resolved path, runc's exit codes for help and
//! usage errors, `--version` lines, `--debug`/`--log` shapes, and the
//! checkpoint/restore refusal, side by side with Debian's runc.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_testsupport::bundle::Bundle;
use berth_testsupport::SandboxHost;

const RUNC: &str = "/usr/sbin/runc";

fn berth_runc() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-runc"))
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !root {
        berth_testsupport::kernel::report_skip("needs root");
    }
    root
}

/// An engine that resolves the runtime's path (realpath) before exec runs
/// the `berth-runc` binary itself, which is the runtime under any name.
#[test]
fn resolved_path_is_still_the_runtime() {
    if !is_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("my-runtime");
    std::os::unix::fs::symlink(berth_runc(), &link).unwrap();
    let resolved = std::fs::canonicalize(&link).unwrap();
    assert_eq!(resolved.file_name().unwrap(), "berth-runc");
    let out = run(&resolved, &["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("berth-runc version "));

    // A whole container through the resolved path, in a sandbox.
    let host = SandboxHost::new().unwrap();
    let dir = host.root().join("bundle");
    let mut b = Bundle::busybox(&dir).unwrap();
    b.set_args(["sh", "-c", "echo via-resolved-path"]);
    b.write().unwrap();
    let root = host.dirs().runtime_root.clone();
    let mut c = Command::new(&resolved);
    c.arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(&dir)
        .arg("rp")
        .stdin(Stdio::null());
    let out = host.output(&mut c).unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-resolved-path\n");
    // The symlink's own name does not matter either.
    let out = run(&link, &["--root", root.to_str().unwrap(), "state", "rp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{out:?}"
    );
}

/// Exit codes of help, version and usage errors are runc's.
#[test]
fn help_and_usage_exit_codes_match_runc() {
    if !Path::new(RUNC).exists() {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    for line in [
        vec![],
        vec!["-h"],
        vec!["--help"],
        vec!["help"],
        vec!["help", "run"],
        vec!["run", "-h"],
        vec!["exec", "--help"],
        vec!["bogus"],
        vec!["help", "bogus"],
        vec!["--bogus"],
        vec!["state"],
        vec!["state", "a", "b"],
        vec!["-v"],
        vec!["--version"],
        vec!["--root", root, "checkpoint", "nope"],
        vec!["--root", root, "restore", "nope"],
    ] {
        let r = run(Path::new(RUNC), &line);
        let b = run(&berth_runc(), &line);
        assert_eq!(
            b.status.code(),
            r.status.code(),
            "exit code of {line:?}: {b:?}"
        );
    }
    let b = run(&berth_runc(), &["bogus"]);
    assert!(String::from_utf8_lossy(&b.stderr).contains("No help topic for 'bogus'"));
}

/// `--version`: runc's lines in runc's order, berth's values.
#[test]
fn version_lines_have_runcs_shape() {
    let out = String::from_utf8(run(&berth_runc(), &["--version"]).stdout).unwrap();
    let keys: Vec<&str> = out
        .lines()
        .map(|l| l.split([':', ' ']).next().unwrap())
        .collect();
    // runc: "runc version X", [commit:], spec:, go:, libseccomp:.
    assert_eq!(keys[0], "berth-runc");
    assert!(out.lines().next().unwrap().contains(" version "));
    let rest: Vec<&str> = keys[1..]
        .iter()
        .copied()
        .filter(|k| *k != "commit")
        .collect();
    assert_eq!(rest, ["spec", "rust", "seccomp"], "{out}");
    if Path::new(RUNC).exists() {
        // Line for line the same keys as runc's, go/libseccomp renamed.
        let runc = String::from_utf8(run(Path::new(RUNC), &["--version"]).stdout).unwrap();
        let runc_keys: Vec<&str> = runc
            .lines()
            .skip(1)
            .map(|l| l.split(':').next().unwrap())
            .filter(|k| *k != "commit")
            .collect();
        assert_eq!(runc_keys, ["spec", "go", "libseccomp"], "{runc}");
    }
}

/// `--debug` writes logrus-shaped debug lines: text to stderr without
/// `--log`; JSON or text to the `--log` file (not stderr) with it, where
/// the error lands too.
#[test]
fn debug_and_log_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let root = root.to_str().unwrap();
    let out = run(&berth_runc(), &["--debug", "--root", root, "state", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("time=\"") && l.contains(" level=debug msg=\"")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l == "berth-runc: container nope does not exist"),
        "{err}"
    );

    for (format, check) in [
        (
            "json",
            &(|l: &str| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["level"].as_str().unwrap().to_owned(),
                    v["time"].is_string(),
                )
            }) as &dyn Fn(&str) -> (String, bool),
        ),
        ("text", &|l: &str| {
            let level = l
                .split(" level=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            (level.to_owned(), l.starts_with("time=\""))
        }),
    ] {
        let log = tmp.path().join(format!("log.{format}"));
        let out = run(
            &berth_runc(),
            &[
                "--debug",
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                format,
                "--root",
                root,
                "state",
                "nope",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.lines().count(),
            1,
            "only the plain error on stderr: {err}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let levels: Vec<(String, bool)> = text.lines().map(check).collect();
        assert!(levels.iter().all(|(_, t)| *t), "{text}");
        assert!(levels.iter().any(|(l, _)| l == "debug"), "{text}");
        assert!(levels.iter().any(|(l, _)| l == "error"), "{text}");
    }
    // Without --debug there are no debug lines.
    let log = tmp.path().join("quiet.json");
    run(
        &berth_runc(),
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "--root",
            root,
            "state",
            "nope",
        ],
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("\"debug\""), "{text}");
    assert!(text.contains("\"level\":\"error\""), "{text}");
}

/// checkpoint and restore answer that they need CRIU, with runc's exit code
/// when criu is missing; checkpoint of an unknown container says so first.
#[test]
fn checkpoint_and_restore_need_criu() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let out = run(
        &berth_runc(),
        &["--root", root, "restore", "--image-path", "/x", "c1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs CRIU"), "{err}");
    let out = run(
        &berth_runc(),
        &["--root", root, "checkpoint", "--leave-running", "c1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
