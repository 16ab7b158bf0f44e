use super::*;

fn write_bundle(dir: &Path, config: &str, rootfs: bool) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("config.json"), config)?;
    if rootfs {
        fs::create_dir_all(dir.join("rootfs"))?;
    }
    Ok(())
}

fn config(extra: &str) -> String {
    format!(
        r#"{{"ociVersion":"1.0.2-dev","root":{{"path":"rootfs"}},
        "process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},
        "linux":{{"namespaces":[{{"type":"mount"}},{{"type":"pid"}}]}}{extra}}}"#
    )
}

fn load_err(cfg: &str, rootfs: bool) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_bundle(tmp.path(), cfg, rootfs).expect("write bundle");
    match Bundle::load(tmp.path()) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loads_a_minimal_bundle() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    write_bundle(tmp.path(), &config(""), true)?;
    let b = Bundle::load(tmp.path())?;
    assert_eq!(b.rootfs, fs::canonicalize(tmp.path().join("rootfs"))?);
    assert!(b.dir.is_absolute());
    Ok(())
}

#[test]
fn accepts_versions_1_0_to_1_3_only() {
    for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"] {
        let cfg = config("").replace("1.0.2-dev", v);
        assert_eq!(load_err(&cfg, true), "loaded", "{v}");
    }
    for (v, want) in [
        ("1.4.0", "newer"),
        ("2.0.0", "not supported"),
        ("x", "semantic"),
    ] {
        let cfg = config("").replace("1.0.2-dev", v);
        let e = load_err(&cfg, true);
        assert!(e.contains(want), "{v}: {e}");
    }
}

#[test]
fn bad_bundles_get_one_line_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let e = Bundle::load(&tmp.path().join("nope"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("does not exist"), "{e}");
    let e = Bundle::load(tmp.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("has no config.json"), "{e}");

    let cases: &[(&str, bool, &str)] = &[
        ("{not json", true, "malformed config.json"),
        ("[]", true, "not a JSON object"),
        (&config(""), false, "rootfs"),
        (
            &config("").replace(r#"{"type":"pid"}"#, r#"{"type":"bogus"}"#),
            true,
            "unknown namespace type \"bogus\"",
        ),
        (
            &config(r#","mounts":[{"destination":"/../../etc","type":"tmpfs"}]"#),
            true,
            "escapes the rootfs",
        ),
        (
            &config(r#","linux":{"namespaces":[{"type":"pid"}],"maskedPaths":["/proc/kcore"]}"#)
                .replace(
                    r#","linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}"#,
                    "",
                ),
            true,
            "without a private MNT namespace",
        ),
        (
            &config("").replace(r#""args":["sh"]"#, r#""args":[]"#),
            true,
            "process.args",
        ),
        (&config(r#","hostname":"x""#), true, "UTS namespace"),
    ];
    for (cfg, rootfs, want) in cases {
        let e = load_err(cfg, *rootfs);
        assert!(e.contains(want), "want {want:?} in {e:?}");
        assert!(!e.contains('\n'), "multi-line error: {e:?}");
    }
}

#[test]
fn unknown_capabilities_are_dropped_with_a_warning() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config("").replace(
        r#""args":["sh"]"#,
        r#""args":["sh"],"capabilities":{"bounding":["CAP_KILL","CAP_FUTURE_THING"]}"#,
    );
    let (spec, warnings) = parse_config(cfg.as_bytes())?;
    assert_eq!(warnings.len(), 1);
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    assert_eq!(caps.len(), 1);
    Ok(())
}

#[test]
fn an_empty_namespace_path_means_a_new_namespace() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config("").replace(
        r#"{"type":"mount"}"#,
        r#"{"type":"mount","path":""},{"type":"network","path":""}"#,
    );
    assert!(cfg.contains(r#""path":"""#), "{cfg}");
    let (spec, _) = parse_config(cfg.as_bytes())?;
    validate_spec(&spec)?;
    let ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    // mount, network (both new) and pid.
    assert_eq!(ns.len(), 3);
    assert!(ns.iter().all(|n| n.path().is_none()));
    Ok(())
}
