//! `berth build`, daemonless on a temp image store, as root inside a
//! sandbox host (RUN mounts overlayfs and starts containers of berth's
//! runtime). Base image: the host's busybox (berth-testsupport).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_testsupport::images::busybox_docker_archive;
use berth_testsupport::SandboxHost;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Env {
    sandbox: SandboxHost,
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Result<Env, Box<dyn std::error::Error>> {
        let sandbox = SandboxHost::new()?;
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("image");
        let archive = dir.path().join("busybox.tar");
        busybox_docker_archive(&archive)?;
        let env = Env { sandbox, dir, root };
        env.ok(&["load", "-q", "-i", &archive.to_string_lossy()])?;
        Ok(env)
    }

    fn berth(&self, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        Ok(self.sandbox.output(
            Command::new(env!("CARGO_BIN_EXE_berth"))
                .env("BERTH_IMAGE_ROOT", &self.root)
                .args(args),
        )?)
    }

    fn ok(&self, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
        let out = self.berth(args)?;
        if !out.status.success() {
            return Err(format!(
                "berth {args:?} failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// A context directory with `files` (name, content).
    fn context(
        &self,
        name: &str,
        files: &[(&str, &str)],
    ) -> Result<PathBuf, Box<dyn std::error::Error>> {
        let c = self.dir.path().join(name);
        for (f, body) in files {
            let p = c.join(f);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, body)?;
        }
        Ok(c)
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn skopeo_present() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

const APP: &str = r#"FROM busybox
ARG GREETING=hello
ENV APP=/app
WORKDIR $APP
COPY --chown=1:2 --chmod=640 hello.txt ./
COPY . /ctx/
RUN echo "$GREETING from run" > run.txt && echo scratch > /tmp/gone && id -u
RUN rm /tmp/gone
EXPOSE 8080/tcp
LABEL org.example.step="built by berth"
USER 1:2
CMD ["cat", "/app/run.txt"]
"#;

#[test]
fn built_image_runs_under_berth_and_skopeo_reads_it() -> TestResult {
    let env = Env::new()?;
    let ctx = env.context(
        "app",
        &[
            ("Dockerfile", APP),
            ("hello.txt", "hello file\n"),
            ("ignored.txt", "secret\n"),
            ("sub/kept.txt", "kept\n"),
            (".dockerignore", "ignored.txt\n"),
        ],
    )?;
    let out = env.ok(&[
        "build",
        "-t",
        "built:v1",
        "-t",
        "example.com/team/built:v2",
        "--build-arg",
        "GREETING=hi",
        "--label",
        "from=cli",
        &s(&ctx),
    ])?;
    assert!(out.starts_with("Step 1/13 : FROM busybox\n"), "{out}");
    assert!(out.contains("Step 7/13 : RUN echo"), "{out}");
    assert!(out.contains("Step 13/13 : LABEL from=cli\n"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    // RUN's output reaches the stream: `id -u` as root.
    assert!(out.contains("\n0\n"), "{out}");
    assert!(out.contains("Successfully tagged built:v1\n"), "{out}");
    assert!(
        out.contains("Successfully tagged example.com/team/built:v2\n"),
        "{out}"
    );
    let id_line = out
        .lines()
        .find(|l| l.starts_with("Successfully built "))
        .ok_or("no id")?;
    let short = id_line.trim_start_matches("Successfully built ");

    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "built:v1"])?)?;
    let img = &inspect[0];
    assert!(img["Id"]
        .as_str()
        .is_some_and(|i| i.starts_with(&format!("sha256:{short}"))));
    assert_eq!(
        img["Config"]["Cmd"],
        serde_json::json!(["cat", "/app/run.txt"])
    );
    assert_eq!(img["Config"]["WorkingDir"], "/app");
    assert_eq!(img["Config"]["User"], "1:2");
    assert_eq!(
        img["Config"]["Labels"]["org.example.step"],
        "built by berth"
    );
    assert_eq!(img["Config"]["Labels"]["from"], "cli");
    assert!(
        img["Config"]["ExposedPorts"]["8080/tcp"].is_object(),
        "{img}"
    );
    let env_list = img["Config"]["Env"].to_string();
    assert!(env_list.contains("APP=/app"), "{env_list}");
    // busybox's 2 layers + WORKDIR (made /app) + 2 COPY + 2 RUN.
    assert_eq!(
        img["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(7),
        "{img}"
    );

    // The image runs under berth: a RUN step of a build on top of it sees
    // its files, owners and modes, and the whiteout of /tmp/gone.
    let check = env.context(
        "check",
        &[(
            "Dockerfile",
            "FROM built:v1\nUSER 0\nRUN cat /app/run.txt && stat -c '%u:%g %a' /app/hello.txt && ls /ctx && ls /ctx/sub && test ! -e /ctx/ignored.txt && test ! -e /tmp/gone && echo checked\n",
        )],
    )?;
    let out = env.ok(&["build", &s(&check)])?;
    assert!(out.contains("hi from run\n"), "{out}");
    assert!(out.contains("1:2 640\n"), "{out}");
    assert!(out.contains("kept.txt\n"), "{out}");
    assert!(out.contains("checked\n"), "{out}");

    if !skopeo_present() {
        berth_testsupport::kernel::report_skip(
            "skopeo is not installed (Debian package in .ci/run)",
        );
        return Ok(());
    }
    for (format, transport) in [
        ("oci-archive", "oci-archive"),
        ("docker-archive", "docker-archive"),
    ] {
        let file = env.dir.path().join(format!("built-{format}.tar"));
        env.ok(&["save", "--format", format, "-o", &s(&file), "built:v1"])?;
        let o = Command::new("skopeo")
            .args([
                "inspect",
                "--config",
                &format!("{transport}:{}", file.display()),
            ])
            .output()?;
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let cfg: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        assert_eq!(
            cfg["config"]["Cmd"],
            serde_json::json!(["cat", "/app/run.txt"])
        );
        assert_eq!(cfg["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(7));
        let o = Command::new("skopeo")
            .args(["inspect", &format!("{transport}:{}", file.display())])
            .output()?;
        assert!(
            o.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let m: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        assert_eq!(m["Labels"]["org.example.step"], "built by berth");
        assert_eq!(m["Layers"].as_array().map(Vec::len), Some(7));
    }
    Ok(())
}

#[test]
fn second_identical_build_is_all_cache_hits() -> TestResult {
    let env = Env::new()?;
    let df = "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo ran-$A >> /log\nCMD [\"cat\", \"/log\"]\n";
    let ctx = env.context("c", &[("Dockerfile", df), ("f", "one\n")])?;
    let first = env.ok(&["build", "-q", &s(&ctx)])?;
    let out = env.ok(&["build", &s(&ctx)])?;
    assert_eq!(out.matches(" ---> Using cache\n").count(), 4, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    let id = first.trim();
    assert!(
        out.contains(&format!("Successfully built {}\n", &id[7..19])),
        "{id} {out}"
    );
    let again = env.ok(&["build", "-q", &s(&ctx)])?;
    assert_eq!(again.trim(), id);

    // A changed COPY input misses from there on; the step before still hits.
    std::fs::write(ctx.join("f"), "two\n")?;
    let out = env.ok(&["build", &s(&ctx)])?;
    assert_eq!(out.matches(" ---> Using cache\n").count(), 1, "{out}");
    assert!(out.contains("Running in"), "{out}");

    // --no-cache runs everything.
    let out = env.ok(&["build", "--no-cache", &s(&ctx)])?;
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
    Ok(())
}

#[test]
fn multi_stage_copy_from_and_target() -> TestResult {
    let env = Env::new()?;
    let df = r#"FROM busybox AS build
RUN mkdir /out && echo made-in-stage > /out/artifact
FROM scratch AS final
COPY --from=build /out/artifact /artifact
COPY --from=0 /bin/busybox /bin/busybox
ENTRYPOINT ["/bin/busybox"]
CMD ["cat", "/artifact"]
"#;
    let ctx = env.context("m", &[("Dockerfile", df)])?;
    env.ok(&["build", "-t", "final:1", &s(&ctx)])?;
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "final:1"])?)?;
    assert_eq!(
        inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        inspect[0]["Config"]["Entrypoint"],
        serde_json::json!(["/bin/busybox"])
    );

    let check = env.context(
        "mcheck",
        &[(
            "Dockerfile",
            "FROM final:1\nRUN [\"/bin/busybox\", \"cat\", \"/artifact\"]\n",
        )],
    )?;
    let out = env.ok(&["build", &s(&check)])?;
    assert!(out.contains("made-in-stage\n"), "{out}");

    // --target stops at the named stage.
    let out = env.ok(&["build", "--target", "build", "-t", "stage:1", &s(&ctx)])?;
    assert!(out.contains("Step 2/2 : RUN"), "{out}");
    assert!(!out.contains("Step 3"), "{out}");
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "stage:1"])?)?;
    assert_eq!(
        inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(3)
    );
    let out = env.berth(&["build", "--target", "nosuch", &s(&ctx)])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to reach build target nosuch"));
    Ok(())
}

#[test]
fn errors_name_the_dockerfile_line() -> TestResult {
    let env = Env::new()?;
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\n\nRUNN echo\n",
            "line 3: unknown instruction: RUNN",
        ),
        (
            "FROM busybox\nRUN true \\\n  && true\nRUN exit 3\n",
            "line 4: The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        ),
        (
            "FROM busybox\nADD https://example.com/x /x\n",
            "line 2: ADD https://example.com/x: downloading from a URL is refused",
        ),
        (
            "FROM busybox\nCOPY missing /x\n",
            "line 2: COPY failed: file not found in build context",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "line 2: COPY failed: forbidden path outside the build context",
        ),
        (
            // Not in the store: FROM pulls it, and the sandbox (only lo)
            // reaches no registry: the error names the line and the pull.
            "FROM nosuchimage\n",
            "line 1: pulling nosuchimage: registry: https://registry-1.docker.io/v2/library/nosuchimage/manifests/latest",
        ),
    ];
    for (i, (df, want)) in cases.iter().enumerate() {
        let ctx = env.context(&format!("e{i}"), &[("Dockerfile", df)])?;
        let out = env.berth(&["build", &s(&ctx)])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{df}");
        assert!(err.contains(want), "{df}: {err}");
    }
    // Nothing was tagged or left mounted by the failures (the images of
    // the steps that worked stay, untagged, as dockerd leaves them).
    let tagged = env.ok(&["images"])?;
    assert_eq!(
        tagged
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("<none>"))
            .count(),
        1,
        "{tagged}"
    );
    let mounts = env
        .sandbox
        .sh("grep -c ' overlay ' /proc/self/mounts || true")?;
    assert_eq!(mounts.trim(), "0");
    for d in ["containers", "build/bundles", "build/runtime"] {
        let left: Vec<_> = std::fs::read_dir(env.root.join(d))
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{d}: {left:?}");
    }
    Ok(())
}

#[test]
fn config_instructions_onbuild_add_and_network() -> TestResult {
    let env = Env::new()?;
    let base = r#"FROM busybox
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost || exit 1
STOPSIGNAL SIGINT
VOLUME /data /logs
VOLUME ["/cache"]
ENTRYPOINT ["/bin/sh", "-c"]
ONBUILD RUN echo triggered > /onbuild.txt
MAINTAINER someone@example.com
"#;
    let ctx = env.context("base", &[("Dockerfile", base)])?;
    env.ok(&["build", "-t", "base:1", &s(&ctx)])?;
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "base:1"])?)?;
    let c = &inspect[0]["Config"];
    assert_eq!(c["StopSignal"], "SIGINT");
    for v in ["/data", "/logs", "/cache"] {
        assert!(c["Volumes"][v].is_object(), "{c}");
    }
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    // A new ENTRYPOINT drops the base image's CMD.
    assert!(c["Cmd"].is_null(), "{c}");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "wget -q localhost || exit 1"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo triggered > /onbuild.txt"])
    );
    assert_eq!(inspect[0]["Author"], "someone@example.com");

    // The trigger runs in a build FROM the image, and is not inherited.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o600);
    h.set_uid(7);
    h.set_gid(8);
    h.set_cksum();
    tar.append_data(&mut h, "inner/file.txt", &b"in tar"[..])?;
    let tarball = tar.into_inner()?;
    let ctx = env.context("child", &[("Dockerfile", "FROM base:1\nADD bundle.tar /unpacked/\nRUN cat /onbuild.txt /unpacked/inner/file.txt; echo; stat -c '%u:%g %a' /unpacked/inner/file.txt /unpacked; readlink /proc/self/ns/net\n")])?;
    std::fs::write(ctx.join("bundle.tar"), tarball)?;
    let out = env.ok(&["build", "-t", "child:1", &s(&ctx)])?;
    assert!(out.contains("# Executing 1 build trigger\n"), "{out}");
    assert!(
        out.contains("triggered\nin tar\n7:8 600\n0:0 755\n"),
        "{out}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "child:1"])?)?;
    assert!(
        inspect[0]["Config"]["OnBuild"].is_null(),
        "{}",
        inspect[0]["Config"]
    );

    // RUN gets its own network namespace by default, the host's with --network host.
    let host_ns = env.sandbox.sh("readlink /proc/self/ns/net")?;
    let netns_line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("net:["))
            .map(str::to_string)
    };
    assert_ne!(netns_line(&out), Some(host_ns.trim().to_string()), "{out}");
    let out = env.ok(&["build", "--no-cache", "--network", "host", &s(&ctx)])?;
    assert_eq!(netns_line(&out), Some(host_ns.trim().to_string()), "{out}");
    let out = env.berth(&["build", "--network", "bridge", &s(&ctx)])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not supported by a daemonless berth build")
    );
    Ok(())
}

#[test]
fn sigint_stops_a_build_and_cleans_up() -> TestResult {
    use std::io::BufRead;
    let env = Env::new()?;
    let ctx = env.context(
        "slow",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo started && sleep 60\nCMD [\"true\"]\n",
        )],
    )?;
    let mut child = env.sandbox.spawn(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_IMAGE_ROOT", &env.root)
            .args(["build", "-t", "slow:1", &s(&ctx)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    for l in lines.by_ref() {
        if l? == "started" {
            break;
        }
    }
    // SAFETY: signalling the berth process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{rest:?}");
    assert!(err.contains("line 2: the build was cancelled"), "{err}");
    assert!(env.berth(&["image", "inspect", "slow:1"])?.status.code() != Some(0));
    let mounts = env
        .sandbox
        .sh("grep -c ' overlay ' /proc/self/mounts || true")?;
    assert_eq!(mounts.trim(), "0");
    for d in ["containers", "build/bundles", "build/runtime"] {
        let left: Vec<_> = std::fs::read_dir(env.root.join(d))
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{d}: {left:?}");
    }
    Ok(())
}

#[test]
fn a_killed_builders_rootfs_is_removed_by_the_next_build() -> TestResult {
    use std::io::BufRead;
    let env = Env::new()?;
    let ctx = env.context(
        "killed",
        &[("Dockerfile", "FROM busybox\nRUN echo started && sleep 60\n")],
    )?;
    let mut child = env.sandbox.spawn(
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_IMAGE_ROOT", &env.root)
            .args(["build", &s(&ctx)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    )?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    for l in lines.by_ref() {
        if l? == "started" {
            break;
        }
    }
    child.kill()?;
    child.wait()?;
    let left = std::fs::read_dir(env.root.join("containers"))?.count();
    assert_eq!(
        left, 1,
        "the killed build's rootfs is there before the next build"
    );

    let other = env.context("next", &[("Dockerfile", "FROM busybox\nCMD [\"true\"]\n")])?;
    env.ok(&["build", &s(&other)])?;
    let left: Vec<_> = std::fs::read_dir(env.root.join("containers"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let mounts = env
        .sandbox
        .sh("grep -c ' overlay ' /proc/self/mounts || true")?;
    assert_eq!(mounts.trim(), "0");
    // The RUN container (its sleep) is gone with it.
    let ps = env.sandbox.sh("ps -eo args")?;
    assert!(!ps.contains("sleep 60"), "{ps}");
    Ok(())
}

/// Starts Debian's docker-registry on 127.0.0.1:5000 inside `sandbox`
/// (bounded wait until it accepts connections); None when not installed.
fn start_registry(
    sandbox: &SandboxHost,
    dir: &Path,
) -> Result<Option<std::process::Child>, Box<dyn std::error::Error>> {
    let present = Command::new("sh")
        .args(["-c", "command -v docker-registry"])
        .output()?
        .status
        .success();
    if !present {
        berth_testsupport::kernel::report_skip(
            "docker-registry is not installed (Debian package in .ci/run)",
        );
        return Ok(None);
    }
    let reg = dir.join("reg");
    std::fs::create_dir_all(reg.join("data"))?;
    std::fs::write(
        reg.join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\nlog:\n  level: warn\n",
            reg.join("data").display()
        ),
    )?;
    let mut child = sandbox.spawn(
        Command::new("docker-registry")
            .arg("serve")
            .arg(reg.join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )?;
    for _ in 0..400 {
        if sandbox.enter_keep_pidns(|| std::net::TcpStream::connect("127.0.0.1:5000").is_ok())? {
            return Ok(Some(child));
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("docker-registry did not come up".into())
}

#[test]
fn from_pulls_an_image_the_store_lacks_and_pull_forces_it() -> TestResult {
    let env = Env::new()?;
    let Some(mut child) = start_registry(&env.sandbox, env.dir.path())? else {
        return Ok(());
    };
    let result = (|| -> TestResult {
        env.ok(&["tag", "busybox", "127.0.0.1:5000/base/bb:1"])?;
        env.ok(&["push", "-q", "127.0.0.1:5000/base/bb:1"])?;
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["image", "inspect", "busybox"])?)?;
        let id = v[0]["Id"].as_str().unwrap_or_default().to_string();
        env.ok(&["rmi", "127.0.0.1:5000/base/bb:1"])?;
        env.ok(&["rmi", "busybox"])?;
        let ctx = env.context(
            "pulled",
            &[(
                "Dockerfile",
                "FROM 127.0.0.1:5000/base/bb:1\nRUN echo from-pulled > /p.txt\nCMD [\"cat\", \"/p.txt\"]\n",
            )],
        )?;
        // Not in the store: FROM pulls it, with its progress in the output.
        let out = env.ok(&["build", "-t", "onpulled:1", &s(&ctx)])?;
        assert!(out.contains("1: Pulling from base/bb\n"), "{out}");
        assert!(out.contains(": Download complete\n"), "{out}");
        assert!(out.contains("\nDigest: sha256:"), "{out}");
        assert!(
            out.contains("Status: Downloaded newer image for 127.0.0.1:5000/base/bb:1\n"),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                " ---> {}\n",
                &id.trim_start_matches("sha256:")[..12]
            )),
            "the pulled base is the pushed image {id}: {out}"
        );
        let inspect: serde_json::Value =
            serde_json::from_str(&env.ok(&["image", "inspect", "127.0.0.1:5000/base/bb:1"])?)?;
        assert_eq!(inspect[0]["Id"], id.as_str());
        // In the store now: no pull; --pull pulls again (layers already there).
        let again = env.ok(&["build", "-t", "onpulled:1", &s(&ctx)])?;
        assert!(!again.contains("Pulling from"), "{again}");
        let forced = env.ok(&["build", "--pull", "-t", "onpulled:1", &s(&ctx)])?;
        assert!(forced.contains("1: Pulling from base/bb\n"), "{forced}");
        assert!(forced.contains(": Already exists\n"), "{forced}");
        // A FROM the registry does not have: docker's message, with the line.
        let bad = env.context(
            "missing",
            &[("Dockerfile", "# a comment\nFROM 127.0.0.1:5000/no/such:1\n")],
        )?;
        let out = env.berth(&["build", &s(&bad)])?;
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Dockerfile line 2: pull access denied for 127.0.0.1:5000/no/such, repository does not exist or may require 'docker login'"),
            "{err}"
        );
        // A single-platform image asked for as another platform: docker's words.
        let plat = env.context(
            "platform",
            &[(
                "Dockerfile",
                "FROM --platform=linux/s390x 127.0.0.1:5000/base/bb:1\n",
            )],
        )?;
        let out = env.berth(&["build", &s(&plat)])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("Dockerfile line 1: pulling 127.0.0.1:5000/base/bb:1: image with reference 127.0.0.1:5000/base/bb:1 was found but does not match the specified platform: wanted linux/s390x, actual: linux/amd64"),
            "{err}"
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn daemonless_steps_are_images_and_dockerignore_exceptions_reopen_dirs() -> TestResult {
    let env = Env::new()?;
    let ctx = env.context(
        "steps",
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV A=1\nCOPY . /test\nRUN find /test -type f | sort\n",
            ),
            ("not-ignored", "x"),
            ("ignored/file", "x"),
            ("ignored/subdir/excepted-file", "x"),
            ("ignored/subdir/other", "x"),
            ("deep/er/b.log", "x"),
            ("deep/er/keep.txt", "x"),
            (
                ".dockerignore",
                "ignored\n! ignored/subdir/excepted-file \n**/*.log\nDockerfile\n.dockerignore\n",
            ),
        ],
    )?;
    let out = env.ok(&["build", "-t", "steps:1", &s(&ctx)])?;
    // RUN's find lists what COPY . took.
    assert!(
        out.contains(
            "\n/test/deep/er/keep.txt\n/test/ignored/subdir/excepted-file\n/test/not-ignored\n"
        ),
        "{out}"
    );
    // Every step's id is an image: the two below the result only with -a.
    let ids: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|r| r.len() == 12 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert_eq!(ids.len(), 4, "{out}");
    let all = env.ok(&["images", "-a", "-q"])?;
    let top = env.ok(&["images", "-q"])?;
    for id in &ids {
        assert!(all.contains(id), "{id} not in {all}");
    }
    assert!(!top.contains(ids[1]) && !top.contains(ids[2]), "{top}");
    let hist = env.ok(&["history", "-q", "steps:1"])?;
    let rows: Vec<&str> = hist.lines().take(4).collect();
    let want: Vec<&str> = ids.iter().rev().copied().collect();
    assert_eq!(rows, want, "{hist}");
    // rmi takes the result and its untagged parents, not busybox.
    let rm = env.ok(&["rmi", "steps:1"])?;
    assert_eq!(rm.matches("Deleted: ").count(), 3, "{rm}");
    assert_eq!(env.ok(&["images", "-a", "-q"])?.lines().count(), 1);
    Ok(())
}
