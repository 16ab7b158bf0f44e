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
    assert!(text.contains("Step 1/9 : FROM busybox AS base"), "{text}");
    // --label is a LABEL step of its own at the end, as dockerd adds it.
    assert!(text.contains("Step 9/9 : LABEL by=docker-cli\n"), "{text}");
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
        7,
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
        hist.starts_with("/bin/sh -c #(nop)  LABEL by=docker-cli\n/bin/sh -c #(nop)  CMD [\"cat\""),
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

/// The ` ---> <id>` lines of a build's output, in order (FROM's first).
fn step_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|r| r.len() == 12 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .collect()
}

/// `docker images [-a]` rows as `ID REPO:TAG`.
fn image_rows(d: &Daemon, all: bool) -> Vec<String> {
    let mut args = vec!["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"];
    if all {
        args.push("-a");
    }
    d.ok(&args).lines().map(str::to_owned).collect()
}

#[test]
fn each_step_commits_an_image_that_images_all_history_and_rmi_know() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nENV A=1\nRUN echo hi > /f\nCOPY data.txt /\nCMD [\"cat\", \"/f\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join("data.txt"), "data\n").expect("data");
    let out = build(&d, &["-t", "steps:1"], ctx.path());
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    // RUN's container goes (--rm is the CLI's default), as dockerd says it.
    assert!(
        text.contains(" ---> Removed intermediate container "),
        "{text}"
    );
    let ids = step_ids(&text);
    assert_eq!(ids.len(), 5, "FROM and 4 steps: {text}");
    let busybox = d.ok(&["images", "--format", "{{.ID}}", "busybox"]);
    assert_eq!(ids[0], busybox.trim());

    // The ENV, RUN and COPY images are untagged parents: only with -a.
    let all = image_rows(&d, true);
    for id in &ids[1..4] {
        assert!(all.contains(&format!("{id} <none>:<none>")), "{all:?}");
    }
    assert!(all.contains(&format!("{} steps:1", ids[4])), "{all:?}");
    let top = image_rows(&d, false);
    assert!(!top.iter().any(|r| r.contains("<none>")), "{top:?}");
    assert_eq!(
        d.ok(&["images", "-a", "-q", "--filter", "dangling=true"]),
        ""
    );

    // history: each step's image id, newest first, then the base's.
    let hist = d.ok(&["history", "-q", "steps:1"]);
    let rows: Vec<&str> = hist.lines().collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).rev().collect();
    want.truncate(5);
    assert_eq!(&rows[..5], &want[..], "{hist}");
    let parent = d.inspect("steps:1", "{{.Parent}}");
    assert!(
        parent.starts_with(&format!("sha256:{}", ids[3])),
        "Parent is the COPY step's image: {parent}"
    );

    // The base has children now: deleting it by id is a hard conflict.
    let out = d.docker(&["rmi", "-f", &ids[0]]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(&format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            ids[0]
        )),
        "{}",
        stderr(&out)
    );

    // --no-prune keeps the parents; the COPY image is then dangling.
    let out = d.ok(&["rmi", "--no-prune", "steps:1"]);
    assert_eq!(out.matches("Deleted: ").count(), 1, "{out}");
    let dangling = d.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.trim(), ids[3], "{dangling}");
    // prune takes the dangling head and the untagged chain under it.
    let out = d.ok(&["image", "prune", "-f"]);
    assert_eq!(out.matches("deleted: sha256:").count(), 3, "{out}");
    assert!(!image_rows(&d, true).iter().any(|r| r.contains("<none>")));

    // A second build is all cache hits with the same ids; rmi then takes
    // the result and the parents nothing else keeps, not busybox.
    let out = build(&d, &["-t", "steps:1"], ctx.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = step_ids(&stdout(&out));
    assert_eq!(again[0], ids[0]);
    d.ok(&["tag", &again[2], "keep:run"]);
    let out = d.ok(&["rmi", "steps:1"]);
    assert!(out.starts_with("Untagged: steps:1\n"), "{out}");
    // The CMD and COPY images go; the RUN image is tagged, so it stays,
    // and the ENV image under it too (it has a child).
    assert_eq!(out.matches("Deleted: ").count(), 2, "{out}");
    let all = image_rows(&d, true);
    assert!(all.contains(&format!("{} keep:run", again[2])), "{all:?}");
    assert!(
        all.contains(&format!("{} <none>:<none>", again[1])),
        "{all:?}"
    );
    assert!(
        all.iter().any(|r| r.ends_with(" busybox:latest")),
        "{all:?}"
    );
    let out = d.ok(&["rmi", "keep:run"]);
    assert_eq!(out.matches("Deleted: ").count(), 2, "{out}");
    assert_eq!(image_rows(&d, true).len(), 1);
}

#[test]
fn cache_from_add_host_stderr_and_the_exit_code_of_a_failed_run() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nENV FOO=bar\nRUN cp /etc/hosts /hosts-file\nRUN echo to-stderr >&2\n",
    )
    .expect("Dockerfile");
    let out = build(
        &d,
        &["-t", "cf:1", "--add-host", "extra.test:10.1.2.3"],
        ctx.path(),
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    // stderr of RUN comes between dockerd's colour codes.
    assert!(
        stdout(&out).contains("\u{1b}[91mto-stderr\n\u{1b}[0m"),
        "{:?}",
        stdout(&out)
    );
    let hosts = d.ok(&["run", "--rm", "cf:1", "cat", "/hosts-file"]);
    assert!(hosts.contains("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.contains("10.1.2.3\textra.test\n"), "{hosts}");

    // --cache-from an image that holds the steps: all hits; from one that
    // is not there: the local cache does not serve either.
    let args = ["-t", "cf:2", "--add-host", "extra.test:10.1.2.3"];
    let mut with = args.to_vec();
    with.extend(["--cache-from", "cf:1"]);
    let out = build(&d, &with, ctx.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        3,
        "{}",
        stdout(&out)
    );
    let mut without = args.to_vec();
    without.extend(["--cache-from", "nosuchtag"]);
    let out = build(&d, &without, ctx.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        0,
        "{}",
        stdout(&out)
    );

    // A failing RUN's code reaches the client: docker build exits with it.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 7\n")
        .expect("Dockerfile");
    let out = build(&d, &[], ctx.path());
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(d.berth_mounts().is_empty(), "{:?}", d.berth_mounts());
}

#[test]
fn run_steps_join_a_network_given_by_name_or_id() {
    let d = Daemon::start();
    d.load_busybox();
    let net = d.ok(&["network", "create", "--subnet", "10.72.0.0/24", "buildnet"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "target",
        "--network",
        "buildnet",
        "--network-alias",
        "pingtarget.test",
        "busybox",
        "sleep",
        "300",
    ]);
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN ping -c1 -W5 pingtarget.test && cat /etc/resolv.conf\n",
    )
    .expect("Dockerfile");
    for n in ["buildnet", net.trim()] {
        let out = build(&d, &["--no-cache", "--network", n], ctx.path());
        assert_eq!(
            code(&out),
            0,
            "{}\n{}\n{}",
            stdout(&out),
            stderr(&out),
            d.log_text()
        );
        assert!(
            stdout(&out).contains("1 packets received"),
            "{}",
            stdout(&out)
        );
        assert!(
            stdout(&out).contains("nameserver 127.0.0.11"),
            "{}",
            stdout(&out)
        );
    }
    // none: only lo (up), no name for the target.
    let out = build(&d, &["--no-cache", "--network", "none"], ctx.path());
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let out = build(&d, &["--network", "nosuchnet"], ctx.path());
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("network nosuchnet not found"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "target"]);
    d.ok(&["network", "rm", "buildnet"]);
    assert!(d.berth_mounts().is_empty(), "{:?}", d.berth_mounts());
}

#[test]
fn dockerignore_exceptions_and_a_dockerfile_from_outside_the_context() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    let files = [
        "not-ignored",
        "ignored/file",
        "ignored/subdir/excepted-file",
        "ignored/subdir/other",
        "logs/a.log",
        "deep/er/b.log",
        "deep/er/keep.txt",
    ];
    for f in files {
        let p = ctx.path().join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(&p, f).expect("file");
    }
    std::fs::write(
        ctx.path().join(".dockerignore"),
        "ignored\n!ignored/subdir/excepted-file\n**/*.log\nDockerfile\n.dockerignore\n",
    )
    .expect(".dockerignore");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY . /test\nCMD [\"find\", \"/test\", \"-type\", \"f\"]\n",
    )
    .expect("Dockerfile");
    let out = build(&d, &["-t", "ign:1"], ctx.path());
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let mut found: Vec<String> = d
        .ok(&["run", "--rm", "ign:1"])
        .lines()
        .map(str::to_owned)
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "/test/deep/er/keep.txt",
            "/test/ignored/subdir/excepted-file",
            "/test/not-ignored"
        ]
    );

    // -f from outside the context: the CLI sends it under a name of its
    // own, which COPY . leaves out.
    let other = tempfile::tempdir().expect("dockerfile dir");
    let df = other.path().join("Dockerfile");
    std::fs::write(
        &df,
        "FROM busybox\nCOPY . /src\nCMD [\"ls\", \"-A\", \"/src\"]\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join(".dockerignore"), "ignored\ndeep\nlogs\n")
        .expect(".dockerignore");
    let out = build(
        &d,
        &["-t", "ooc:1", "-f", &df.to_string_lossy()],
        ctx.path(),
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(
        d.ok(&["run", "--rm", "ooc:1"]),
        ".dockerignore\nDockerfile\nnot-ignored\n"
    );

    // Through the API a Dockerfile path may not leave the context; one
    // that is not there is dockerd's error too (both 500 in dockerd).
    for (name, want) in [
        (
            "..%2FDockerfile",
            "forbidden path outside the build context: ../Dockerfile",
        ),
        ("nope", "Cannot locate specified Dockerfile: nope"),
    ] {
        let (status, body) = post_build(&d, ctx.path(), &format!("dockerfile={name}"));
        assert_eq!(status, 500, "{body}");
        assert!(body.contains(want), "{body}");
    }
}

/// `POST /build?QUERY` with `dir` as the context tar: (status, body).
fn post_build(d: &Daemon, dir: &std::path::Path, query: &str) -> (u16, String) {
    let tar = tempfile::NamedTempFile::new().expect("tar file");
    let made = std::process::Command::new("tar")
        .arg("-cf")
        .arg(tar.path())
        .arg("-C")
        .arg(dir)
        .arg(".")
        .status()
        .expect("tar");
    assert!(made.success());
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "--unix-socket"])
        .arg(&d.sock)
        .args(["-H", "Content-Type: application/x-tar", "--data-binary"])
        .arg(format!("@{}", tar.path().display()))
        .arg(format!("http://berth/build?{query}"))
        .output()
        .expect("curl");
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn each_stage_announces_its_image_and_label_steps_end_the_last() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox AS one\nENV A=1\nFROM busybox\nENV B=2\n",
    )
    .expect("Dockerfile");
    let (status, body) = post_build(
        &d,
        ctx.path(),
        "t=stages:1&labels=%7B%22z%22%3A%221%22%2C%22a%22%3A%222%22%7D",
    );
    assert_eq!(status, 200, "{body}");
    let msgs: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON message"))
        .collect();
    let aux: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m["aux"]["ID"].as_str())
        .collect();
    assert_eq!(aux.len(), 2, "{body}");
    let streams: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    assert!(
        streams.contains("Step 5/6 : LABEL a=2\n") && streams.contains("Step 6/6 : LABEL z=1\n"),
        "{streams}"
    );
    assert_eq!(d.inspect("stages:1", "{{.Id}}"), aux[1]);
    assert_ne!(aux[0], aux[1]);
    assert!(
        streams.contains(&format!(" ---> {}\n", &aux[0][7..19])),
        "{streams}"
    );
}

#[test]
fn cache_from_an_image_loaded_elsewhere_stands_in_for_its_steps() {
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nENV FOO=bar\nWORKDIR /app\nCOPY data.txt .\nRUN cat data.txt > copy\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join("data.txt"), "data\n").expect("data");
    let archive = ctx.path().join("..").join(format!(
        "cache-from-{}.tar",
        ctx.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let id = {
        let d = Daemon::start();
        d.load_busybox();
        let out = build(&d, &["-t", "cf:1"], ctx.path());
        assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
        d.ok(&["save", "-o", &archive.to_string_lossy(), "cf:1"]);
        d.inspect("cf:1", "{{.Id}}")
    };
    // A daemon with no cache of its own: the loaded image's history and
    // layers stand in for every step, giving the same image.
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["load", "-i", &archive.to_string_lossy()]);
    let _ = std::fs::remove_file(&archive);
    let out = build(&d, &["-t", "cf:2"], ctx.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        0,
        "{}",
        stdout(&out)
    );
    d.ok(&["rmi", "cf:2"]);
    let out = build(&d, &["-t", "cf:2", "--cache-from", "cf:1"], ctx.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        4,
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("Running in"), "{}", stdout(&out));
    assert_eq!(d.inspect("cf:2", "{{.Id}}"), id);
    assert_eq!(d.ok(&["run", "--rm", "cf:2", "cat", "/app/copy"]), "data\n");
}

/// The id after ` ---> Running in ` in a build's output.
fn running_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix(" ---> Running in "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rm_and_force_rm_decide_which_run_containers_stay() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = tempfile::tempdir().expect("context dir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n",
    )
    .expect("Dockerfile");
    let ps = |d: &Daemon| {
        d.ok(&["ps", "-a", "--format", "{{.ID}} {{.Status}}"])
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };

    // --rm (the default): the containers of the steps that worked go.
    let out = build(&d, &["-t", "rm:1"], ctx.path());
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let ran = running_ids(&stdout(&out));
    assert_eq!(ran.len(), 2, "{}", stdout(&out));
    for id in &ran {
        assert!(
            stdout(&out).contains(&format!(" ---> Removed intermediate container {id}\n")),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(ps(&d), Vec::<String>::new());

    // --rm=false: every RUN container stays, exited, with its changes.
    let out = build(&d, &["--no-cache", "--rm=false", "-t", "rm:2"], ctx.path());
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        !stdout(&out).contains("Removed intermediate"),
        "{}",
        stdout(&out)
    );
    let ran = running_ids(&stdout(&out));
    let listed = ps(&d);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for id in &ran {
        assert!(
            listed
                .iter()
                .any(|l| l.starts_with(&format!("{id} Exited (0)"))),
            "{id} in {listed:?}"
        );
    }
    let diff = d.ok(&["diff", &ran[1]]);
    assert!(diff.contains("A /two"), "{diff}");
    // The first step's image is the second container's image.
    let image = d.inspect(&ran[1], "{{.Image}}");
    let steps = d.ok(&["history", "-q", "rm:2"]);
    let second = steps.lines().nth(1).expect("history rows");
    assert!(
        image.starts_with(&format!("sha256:{second}")),
        "{image} vs {steps}"
    );
    d.ok(&["rm", &ran[0], &ran[1]]);

    // A failed step's container stays with --rm, goes with --force-rm.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN touch /x; exit 3\n",
    )
    .expect("Dockerfile");
    let out = build(&d, &[], ctx.path());
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let ran = running_ids(&stdout(&out));
    let listed = ps(&d);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].starts_with(&format!("{} Exited (3)", ran[0])),
        "{listed:?}"
    );
    assert!(d.ok(&["diff", &ran[0]]).contains("A /x"));
    d.ok(&["rm", &ran[0]]);
    let out = build(&d, &["--force-rm"], ctx.path());
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(ps(&d), Vec::<String>::new());

    // berth's own CLI through berthd says the same with --rm=false.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN true\n").expect("Dockerfile");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["build", "--rm=false"])
        .arg(ctx.path())
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env_remove("BERTH_IMAGE_ROOT")
        .output()
        .expect("berth build");
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let ran = running_ids(&stdout(&out));
    assert_eq!(ps(&d).len(), 1, "{:?}", ps(&d));
    assert!(ps(&d)[0].starts_with(&format!("{} Exited (0)", ran[0])));
    d.ok(&["rm", &ran[0]]);
    assert!(d.berth_mounts().is_empty(), "{:?}", d.berth_mounts());
}
