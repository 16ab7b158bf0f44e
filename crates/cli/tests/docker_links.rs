//! Legacy container links (`docker run --link NAME[:ALIAS]`) through the
//! real docker CLI, as dockerd 28 has them: on the default bridge the
//! linker's /etc/hosts and environment name the linked container, which is
//! known by the link name (`linker/alias`) until `docker rm --link`; on a
//! user-defined network a link is an alias only the linker's embedded DNS
//! resolves. berthd runs in a sandbox host.

mod docker_support;

use docker_support::{code, stderr, stdout, Daemon};

fn bridge_ip(d: &Daemon, name: &str) -> String {
    d.inspect(name, "{{.NetworkSettings.Networks.bridge.IPAddress}}")
}

/// `docker ps -a --no-trunc` NAMES with the extra flags `more`.
fn names(d: &Daemon, more: &[&str]) -> String {
    let mut args = vec!["ps", "-a", "--no-trunc", "--format", "{{.Names}}"];
    args.extend_from_slice(more);
    d.ok(&args).trim().to_owned()
}

/// `nslookup -type=a NAME` in container `who`: (exit, output).
fn lookup(d: &Daemon, who: &str, name: &str) -> (i32, String) {
    let o = d.docker(&["exec", who, "nslookup", "-type=a", name]);
    (code(&o), stdout(&o) + &stderr(&o))
}

/// Nothing berth made for containers is left (netns and rootfs mounts).
fn assert_no_mounts_left(d: &Daemon) {
    assert_eq!(d.berth_mounts(), Vec::<String>::new(), "mounts left behind");
}

#[test]
fn bridge_links_write_hosts_and_env_and_name_the_linked_container() {
    let mut d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run", "-d", "--name", "web", "-e", "FOO=bar", "--expose", "80", "--expose", "81",
        "busybox", "sleep", "1000",
    ]);
    let web_ip = bridge_ip(&d, "web");
    let web_id = d.inspect("web", "{{.Id}}");
    assert!(!web_ip.is_empty(), "web has no bridge address");
    // The alias, and the name itself when no alias is given.
    d.ok(&[
        "run", "-d", "--name", "app", "--link", "web:db", "--link", "web", "busybox", "sleep",
        "1000",
    ]);
    let hosts = d.ok(&["exec", "app", "cat", "/etc/hosts"]);
    let app_ip = bridge_ip(&d, "app");
    let lines: Vec<&str> = hosts.lines().collect();
    let db_line = format!("{web_ip}\tdb {} web", &web_id[..12]);
    let web_line = format!("{web_ip}\tweb {}", &web_id[..12]);
    assert!(lines.contains(&db_line.as_str()), "{hosts}");
    assert!(lines.contains(&web_line.as_str()), "{hosts}");
    // As dockerd: the container's own address comes last.
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with(&format!("{app_ip}\t"))),
        "{hosts}"
    );
    // The links resolve and reach the linked container.
    d.ok(&["exec", "app", "ping", "-c", "1", "-W", "5", "db"]);

    let env = d.ok(&["exec", "app", "env"]);
    let env: Vec<&str> = env.lines().collect();
    for want in [
        format!("DB_PORT=tcp://{web_ip}:80"),
        format!("DB_PORT_80_TCP=tcp://{web_ip}:80"),
        format!("DB_PORT_80_TCP_ADDR={web_ip}"),
        "DB_PORT_80_TCP_PORT=80".into(),
        "DB_PORT_80_TCP_PROTO=tcp".into(),
        format!("DB_PORT_81_TCP=tcp://{web_ip}:81"),
        format!("DB_PORT_80_TCP_START=tcp://{web_ip}:80"),
        format!("DB_PORT_80_TCP_END=tcp://{web_ip}:81"),
        "DB_PORT_80_TCP_PORT_START=80".into(),
        "DB_PORT_80_TCP_PORT_END=81".into(),
        "DB_NAME=/app/db".into(),
        "DB_ENV_FOO=bar".into(),
        "WEB_NAME=/app/web".into(),
        "WEB_ENV_FOO=bar".into(),
    ] {
        assert!(env.contains(&want.as_str()), "no {want} in {env:?}");
    }
    // PATH and HOME are the image's, not the linked container's.
    assert!(
        !env.iter().any(|e| e.starts_with("DB_ENV_PATH=")),
        "{env:?}"
    );

    // Inspect shows the links as dockerd stores them.
    assert_eq!(
        d.inspect("app", "{{json .HostConfig.Links}}"),
        r#"["/web:/app/db","/web:/app/web"]"#
    );
    // The link names are the linked container's names too.
    assert_eq!(names(&d, &["-f", "name=web"]), "app/db,app/web,web");
    assert_eq!(
        d.ok(&["ps", "--format", "{{.Names}}", "-f", "name=web"])
            .trim(),
        "web"
    );
    assert_eq!(names(&d, &["-f", "name=app/db"]), "app/db,app/web,web");
    assert_eq!(d.inspect("app/db", "{{.Name}}"), "/web");
    let (status, body) = d.http("GET", "/v1.50/containers/app/db/json", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"Id\":\"{web_id}\"")), "{body}");

    // A new start of the linked container: the linker's hosts follow its address.
    d.ok(&["stop", "-t", "0", "web"]);
    d.ok(&["run", "-d", "--name", "filler", "busybox", "sleep", "1000"]);
    d.ok(&["start", "web"]);
    let new_ip = bridge_ip(&d, "web");
    assert_ne!(new_ip, web_ip, "web got its old address back");
    let hosts = d.ok(&["exec", "app", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{new_ip}\tdb {} web", &web_id[..12])),
        "{hosts}"
    );
    assert!(!hosts.contains(&format!("{web_ip}\t")), "{hosts}");

    // The links are in the store: a berthd killed and started again still
    // knows them.
    d.kill9();
    d.restart();
    assert_eq!(d.inspect("app", "{{.State.Running}}"), "true");
    assert_eq!(names(&d, &["-f", "name=web"]), "app/db,app/web,web");
    assert_eq!(d.inspect("app/db", "{{.Name}}"), "/web");

    // The link names follow a rename of the linker.
    d.ok(&["rename", "app", "front"]);
    assert_eq!(names(&d, &["-f", "name=web"]), "front/db,front/web,web");
    d.ok(&["rename", "front", "app"]);

    // rm --link removes the link, not the container.
    d.ok(&["rm", "--link", "/app/db"]);
    assert_eq!(names(&d, &["-f", "name=web"]), "app/web,web");
    assert_eq!(
        d.inspect("app", "{{json .HostConfig.Links}}"),
        r#"["/web:/app/web"]"#
    );
    let hosts = d.ok(&["exec", "app", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("\tdb "), "{hosts}");
    assert_eq!(d.inspect("web", "{{.State.Status}}"), "running");
    // Over the API path docker-py uses (no leading slash).
    let (status, body) = d.http("DELETE", "/v1.50/containers/app/web?link=1", None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(d.inspect("app", "{{json .HostConfig.Links}}"), "null");
    let out = d.docker(&["inspect", "app/web"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("No such object: app/web"),
        "{}",
        stderr(&out)
    );
    // With no links left, a new start sets no link variables.
    d.ok(&["restart", "-t", "0", "app"]);
    let env = d.ok(&["exec", "app", "env"]);
    assert!(!env.contains("DB_") && !env.contains("WEB_"), "{env}");

    d.ok(&["rm", "-f", "app", "web", "filler"]);
    assert_no_mounts_left(&d);
}

#[test]
fn bad_links_fail_as_dockerd_fails_them() {
    let d = Daemon::start();
    d.load_busybox();
    // A link to no container: 400 at create (a 404 would make the CLI pull).
    let out = d.docker(&["create", "--link", "nosuch:x", "busybox", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("could not get container for nosuch: No such container: nosuch"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Links":["nosuch:x"]}}"#),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = d.http(
        "POST",
        "/v1.50/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Links":["a:b:c"]}}"#),
    );
    assert_eq!(
        (status, body.contains("bad format for links: a:b:c")),
        (400, true),
        "{body}"
    );
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "a failed create left a container"
    );

    d.ok(&["create", "--name", "idle", "busybox", "sleep", "1000"]);
    // Host networking and links conflict (either side).
    let out = d.docker(&[
        "create",
        "--network",
        "host",
        "--link",
        "idle",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("conflicting options: host type networking can't be used with links"),
        "{}",
        stderr(&out)
    );
    d.ok(&[
        "create",
        "--name",
        "onhost",
        "--network",
        "host",
        "busybox",
        "true",
    ]);
    let out = d.docker(&["create", "--link", "onhost", "busybox", "true"]);
    assert!(
        stderr(&out).contains("conflicting options: host type networking can't be used with links"),
        "{}",
        stderr(&out)
    );

    // A linked container that is not running fails the linker's start (500).
    d.ok(&[
        "create", "--name", "app", "--link", "idle:db", "busybox", "sleep", "1000",
    ]);
    let out = d.docker(&["start", "app"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Cannot link to a non running container: /idle AS /app/db"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.http("POST", "/v1.50/containers/app/start", None);
    assert_eq!(status, 500, "{body}");
    assert_eq!(d.inspect("app", "{{.State.Status}}"), "created");
    // It starts once the linked container runs.
    d.ok(&["start", "idle"]);
    d.ok(&["start", "app"]);

    // A linked container only on a user-defined network is not reachable
    // by a link from the bridge.
    d.ok(&["network", "create", "--subnet", "10.73.0.0/24", "own"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "elsewhere",
        "--network",
        "own",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "create",
        "--name",
        "app2",
        "--link",
        "elsewhere",
        "busybox",
        "true",
    ]);
    let out = d.docker(&["start", "app2"]);
    assert!(
        stderr(&out)
            .contains("Cannot link to /elsewhere, as it does not belong to the default network"),
        "{}",
        stderr(&out)
    );

    // A removed linked container's link stays with the linker (as in a
    // running dockerd): its start fails as for a stopped one.
    d.ok(&["run", "-d", "--name", "gone", "busybox", "sleep", "1000"]);
    d.ok(&[
        "create", "--name", "app3", "--link", "gone", "busybox", "true",
    ]);
    d.ok(&["rm", "-f", "gone"]);
    assert_eq!(
        d.inspect("app3", "{{json .HostConfig.Links}}"),
        r#"["/gone:/app3/gone"]"#
    );
    let out = d.docker(&["start", "app3"]);
    assert!(
        stderr(&out).contains("Cannot link to a non running container: /gone AS /app3/gone"),
        "{}",
        stderr(&out)
    );

    // rm --link of a container's own name, of a link name no parent has.
    let out = d.docker(&["rm", "--link", "idle"]);
    assert!(
        stderr(&out).contains("Conflict, cannot remove the default link name of the container"),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.http("DELETE", "/v1.50/containers/idle?link=1", None);
    assert_eq!(status, 500);
    let (status, body) = d.http("DELETE", "/v1.50/containers/nobody/db?link=1", None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such container: nobody/db"), "{body}");
    assert_eq!(d.inspect("idle", "{{.State.Status}}"), "running");

    d.ok(&[
        "rm",
        "-f",
        "app",
        "app2",
        "app3",
        "idle",
        "onhost",
        "elsewhere",
    ]);
    d.ok(&["network", "rm", "own"]);
    assert_no_mounts_left(&d);
}

#[test]
fn user_network_links_are_aliases_only_the_linker_resolves() {
    let mut d = Daemon::start();
    d.load_busybox();
    // Internal: names the resolver does not know fail at once (nothing to
    // forward to), so "not resolvable" needs no timeout.
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.74.0.0/24",
        "n1",
    ]);
    // The linked container need not exist yet (as dockerd: it is a name).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "n1",
        "--link",
        "upstream:bar",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        d.inspect("app", "{{json .NetworkSettings.Networks.n1.Links}}"),
        r#"["upstream:bar"]"#
    );
    // dockerd keeps no legacy link off the bridge.
    assert_eq!(d.inspect("app", "{{json .HostConfig.Links}}"), "null");
    let (c, out) = lookup(&d, "app", "bar");
    assert_ne!(c, 0, "bar resolved before upstream existed: {out}");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "upstream",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let up_ip = d.inspect("upstream", "{{.NetworkSettings.Networks.n1.IPAddress}}");
    for name in ["bar", "bar.n1"] {
        let (c, out) = lookup(&d, "app", name);
        assert_eq!(c, 0, "{name}: {out}");
        assert!(out.contains(&format!("Address: {up_ip}")), "{name}: {out}");
    }
    // Only the linker has the alias; the linked container's own name works
    // for everyone; the bridge's /etc/hosts lines are not written here.
    let (c, out) = lookup(&d, "other", "bar");
    assert_ne!(c, 0, "{out}");
    let (c, out) = lookup(&d, "other", "upstream");
    assert_eq!(c, 0, "{out}");
    let hosts = d.ok(&["exec", "app", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("bar"), "{hosts}");
    let env = d.ok(&["exec", "app", "env"]);
    assert!(!env.contains("BAR_"), "{env}");

    // The resolver's entries keep the links across a kill -9 of berthd.
    d.kill9();
    d.restart();
    let (c, out) = lookup(&d, "app", "bar");
    assert_eq!(c, 0, "after restart: {out}");
    assert!(
        out.contains(&format!("Address: {up_ip}")),
        "after restart: {out}"
    );

    // network connect --link: an alias on the network connected to.
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.75.0.0/24",
        "n2",
    ]);
    d.ok(&["network", "connect", "n2", "upstream"]);
    d.ok(&[
        "network",
        "connect",
        "--link",
        "upstream:baz",
        "n2",
        "other",
    ]);
    assert_eq!(
        d.inspect("other", "{{json .NetworkSettings.Networks.n2.Links}}"),
        r#"["upstream:baz"]"#
    );
    let up2 = d.inspect("upstream", "{{.NetworkSettings.Networks.n2.IPAddress}}");
    let (c, out) = lookup(&d, "other", "baz");
    assert_eq!(c, 0, "{out}");
    assert!(out.contains(&format!("Address: {up2}")), "{out}");
    let (c, out) = lookup(&d, "app", "baz");
    assert_ne!(c, 0, "{out}");
    // A malformed link is refused before anything is attached.
    let out = d.docker(&["network", "connect", "--link", "a:b:c", "n2", "app"]);
    assert_ne!(code(&out), 0);
    assert_eq!(
        d.inspect("app", "{{len .NetworkSettings.Networks}}"),
        "1",
        "{}",
        stderr(&out)
    );

    d.ok(&["rm", "-f", "app", "upstream", "other"]);
    d.ok(&["network", "rm", "n1", "n2"]);
    assert_no_mounts_left(&d);
}
