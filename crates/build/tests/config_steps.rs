//! Builds that need no mount or container (FROM scratch, config-only
//! steps): the executor's stages, variables and cache, unprivileged.

use berth_build::{build, BuildOptions, Context, RuntimeExec};
use berth_image::ImageStore;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn opts(dockerfile: &str, dir: &std::path::Path) -> BuildOptions {
    BuildOptions {
        dockerfile: dockerfile.to_string(),
        tags: vec!["cfg:1".into()],
        build_args: vec![
            ("VERSION".into(), "2.0".into()),
            ("UNUSED".into(), "x".into()),
        ],
        target: None,
        no_cache: false,
        network: None,
        labels: vec![("extra".into(), "yes".into())],
        runtime: RuntimeExec {
            binary: "/nonexistent/berth".into(),
            root: dir.join("rt"),
            bundles: dir.join("bundles"),
            cgroup_parent: None,
        },
        cancel: None,
        registry: None,
        pull: false,
        platform: None,
        cache_from: Vec::new(),
        extra_hosts: Vec::new(),
        run_network: None,
        removal: berth_build::Removal::OnSuccess,
        containers: None,
    }
}

const DF: &str = r#"ARG BASE=scratch
FROM ${BASE} AS first
ARG VERSION=1.0
ENV APP_VERSION=$VERSION PATHS="/a /b"
LABEL version="${APP_VERSION}" quoted='$NOT'
EXPOSE 80 53/udp
USER app:app
STOPSIGNAL 9
CMD echo "$APP_VERSION"
FROM first
ENTRYPOINT ["/bin/run"]
"#;

#[test]
fn config_steps_expand_variables_and_cache() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("image"))?;
    let ctx_dir = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx_dir)?;
    let ctx = Context::open(&ctx_dir)?;
    let mut text = String::new();
    let built = build(&store, &ctx, &opts(DF, dir.path()), &mut |s| {
        text.push_str(s)
    })?;
    assert!(
        text.starts_with("Step 1/11 : FROM ${BASE} AS first\n"),
        "{text}"
    );
    assert!(
        text.contains("Step 10/11 : ENTRYPOINT [\"/bin/run\"]\n")
            && text.contains("Step 11/11 : LABEL extra=yes\n"),
        "{text}"
    );
    assert!(
        text.contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{text}"
    );
    assert!(text.contains("Successfully tagged cfg:1\n"), "{text}");
    let img = store.resolve("cfg:1")?;
    assert_eq!(img.id, built.id);
    let (_, parts) = store.parts("cfg:1")?;
    let c = &parts.config["config"];
    assert_eq!(
        c["Env"],
        serde_json::json!(["APP_VERSION=2.0", "PATHS=/a /b"])
    );
    assert_eq!(c["Labels"]["version"], "2.0");
    assert_eq!(c["Labels"]["quoted"], "$NOT");
    assert_eq!(c["Labels"]["extra"], "yes");
    assert!(c["ExposedPorts"]["80/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert_eq!(c["User"], "app:app");
    assert_eq!(c["StopSignal"], "9");
    // CMD set in the first stage is kept by an ENTRYPOINT of a later one?
    // No: the later stage did not set CMD itself, so docker drops it.
    assert!(c.get("Cmd").is_none(), "{c}");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/run"]));
    assert_eq!(parts.config["history"].as_array().map(Vec::len), Some(9));
    assert_eq!(built.steps, 11);
    assert_eq!(built.cache_hits, 0);

    // Again: every step after each FROM is a hit, and the id is the same.
    let mut text = String::new();
    let again = build(&store, &ctx, &opts(DF, dir.path()), &mut |s| {
        text.push_str(s)
    })?;
    assert_eq!(again.id, built.id);
    assert_eq!(again.cache_hits, 9, "{text}");
    // Another build arg value misses from the first step that sees it.
    let mut o = opts(DF, dir.path());
    o.build_args = vec![("VERSION".into(), "3.0".into())];
    let third = build(&store, &ctx, &o, &mut |_| {})?;
    assert_ne!(third.id, built.id);
    assert_eq!(third.cache_hits, 0);
    Ok(())
}

#[test]
fn bad_options_are_refused_before_any_step() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("image"))?;
    let ctx = Context::open(dir.path())?;
    let mut o = opts("FROM scratch\nCMD [\"x\"]\n", dir.path());
    o.network = Some("bridge".into());
    let mut said = String::new();
    let e = build(&store, &ctx, &o, &mut |s| said.push_str(s))
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref().is_some_and(|m| m.contains("not supported")),
        "{e:?}"
    );
    let mut o = opts("FROM scratch\n", dir.path());
    o.tags = vec!["Bad Tag".into()];
    assert!(build(&store, &ctx, &o, &mut |s| said.push_str(s)).is_err());
    let mut o = opts("FROM scratch\nSTOPSIGNAL SIGNOPE\n", dir.path());
    o.tags.clear();
    let e = build(&store, &ctx, &o, &mut |s| said.push_str(s))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("Dockerfile line 2: Invalid signal: SIGNOPE")
    );
    assert!(store.list()?.is_empty());
    // FROM scratch alone makes no image (dockerd's error).
    let mut o = opts("FROM scratch\n", dir.path());
    o.labels.clear();
    let e = build(&store, &ctx, &o, &mut |_| {})
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("No image was generated. Is your Dockerfile empty?")
    );
    let mut o = opts("FROM scratch\nCMD [\"x\"]\n", dir.path());
    o.cancel = Some(berth_build::Cancel(std::sync::Arc::new(|| true)));
    let e = build(&store, &ctx, &o, &mut |_| {})
        .err()
        .map(|e| e.to_string());
    assert_eq!(e.as_deref(), Some("the build was cancelled"));
    Ok(())
}
