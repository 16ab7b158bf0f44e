//! `DOCKER_BUILDKIT=0 docker build` (docker CLI v28) against berthd's
//! `POST /build`, in a sandbox host; the result runs with `docker run`.

mod docker_support;

use docker_support::{code, stderr, stdout, Daemon};

fn build(d: &Daemon, args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    let ctx = dir.to_string_lossy().into_owned();
    full.push(&ctx);
    d.docker_cmd(&full)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("run docker build")
}

#[test]
fn docker_cli_builds_against_berthd_and_runs_the_result() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile.app"),
        "FROM busybox AS base\nARG WHO=nobody\nRUN echo \"hello $WHO\" > /greeting\n\
         FROM busybox\nCOPY --from=base /greeting /greeting\nCOPY data.txt /data/\n\
         LABEL stage=final\nCMD [\"cat\", \"/greeting\", \"/data/data.txt\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join("data.txt"), "some data\n").expect("data");
    let df = ctx
        .path()
        .join("Dockerfile.app")
        .to_string_lossy()
        .into_owned();

    let out = build(
        &d,
        &[
            "-f",
            &df,
            "-t",
            "app:1",
            "-t",
            "app:2",
            "--build-arg",
            "WHO=berth",
            "--label",
            "by=docker-cli",
        ],
        ctx.path(),
    );
    assert_eq!(
        code(&out),
        0,
        "stdout: {}\nstderr: {}\n{}",
        stdout(&out),
        stderr(&out),
        d.log_text()
    );
    let text = stdout(&out);
    assert!(text.contains("Step 1/8 : FROM busybox AS base"), "{text}");
    assert!(text.contains(" ---> Running in "), "{text}");
    assert!(text.contains("Successfully built "), "{text}");
    assert!(text.contains("Successfully tagged app:1"), "{text}");
    assert!(text.contains("Successfully tagged app:2"), "{text}");

    let run = d.ok(&["run", "--rm", "app:1"]);
    assert_eq!(run, "hello berth\nsome data\n");
    let labels = d.ok(&[
        "image",
        "inspect",
        "app:2",
        "--format",
        "{{json .Config.Labels}}",
    ]);
    let l: serde_json::Value = serde_json::from_str(&labels).expect("labels JSON");
    assert_eq!(l["stage"], "final");
    assert_eq!(l["by"], "docker-cli");

    // -q prints the id only (from the aux message); a second build hits the cache.
    let out = build(
        &d,
        &[
            "-q",
            "-f",
            &df,
            "--build-arg",
            "WHO=berth",
            "--label",
            "by=docker-cli",
        ],
        ctx.path(),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = d.ok(&["image", "inspect", "app:1", "--format", "{{.Id}}"]);
    assert_eq!(stdout(&out).trim(), id.trim());
    let out = build(
        &d,
        &[
            "-f",
            &df,
            "--build-arg",
            "WHO=berth",
            "--label",
            "by=docker-cli",
        ],
        ctx.path(),
    );
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        6,
        "{}",
        stdout(&out)
    );
    // berthd's /_ping says Builder-Version 1, so a plain `docker build`
    // (no DOCKER_BUILDKIT) takes the legacy path too.
    let out = d
        .docker_cmd(&[
            "build",
            "-q",
            "-f",
            &df,
            "--build-arg",
            "WHO=berth",
            "--label",
            "by=docker-cli",
            &ctx.path().to_string_lossy(),
        ])
        .env_remove("DOCKER_BUILDKIT")
        .output()
        .expect("docker build");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), id.trim());
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "app:1",
    ]);
    assert!(
        hist.starts_with("/bin/sh -c #(nop)  CMD [\"cat\""),
        "{hist}"
    );

    // A syntax error is an error response naming the line; a failing RUN
    // ends the stream with the error.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUNN x\n").expect("Dockerfile");
    let out = build(&d, &[], ctx.path());
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("line 2: unknown instruction: RUNN"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo before; exit 7\n",
    )
    .expect("Dockerfile");
    let out = build(&d, &[], ctx.path());
    assert_ne!(code(&out), 0);
    assert!(stdout(&out).contains("before"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("The command '/bin/sh -c echo before; exit 7' returned a non-zero code: 7"),
        "{}",
        stderr(&out)
    );
    assert!(d.berth_mounts().is_empty(), "{:?}", d.berth_mounts());

    // berth's own CLI goes through berthd when one answers (DOCKER_HOST).
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join(".dockerignore"), "Dockerfile.app\n").expect(".dockerignore");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["build", "-t", "viaberth:1"])
        .arg(ctx.path())
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env_remove("BERTH_IMAGE_ROOT")
        .output()
        .expect("berth build");
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Successfully tagged viaberth:1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(d.ok(&["run", "--rm", "viaberth:1"]), "some data\n");
}
