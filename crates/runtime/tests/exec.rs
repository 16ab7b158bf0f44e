//! `exec`: a new process joins the container's namespaces and cgroup, with
//! flags or a process file, in the foreground or detached.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{is_root, Env};
use serde_json::json;

fn running(env: &Env, id: &str) {
    let b = env.bundle(id, "echo ready > /out/ready; exec sleep 1000");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), id])
        .ok();
}

#[test]
fn exec_joins_namespaces_with_flags() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "ex");
    let out = env
        .berth(&[
            "exec",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1001",
            "ex",
            "sh",
            "-c",
            "hostname; cat /proc/1/comm; echo $FOO; pwd; id -u; id -g",
        ])
        .ok();
    assert_eq!(out, "berth\nsleep\nbar\n/tmp\n1000\n1001\n");
    let out = env
        .berth(&[
            "exec", "ex", "sh", "-c",
            "for n in mnt net pid uts ipc cgroup; do \
             [ \"$(readlink /proc/1/ns/$n)\" = \"$(readlink /proc/self/ns/$n)\" ] && echo same-$n; done",
        ])
        .ok();
    assert_eq!(
        out,
        "same-mnt\nsame-net\nsame-pid\nsame-uts\nsame-ipc\nsame-cgroup\n"
    );
    let r = env.berth(&["exec", "ex", "sh", "-c", "exit 5"]);
    assert_eq!(r.code, 5, "{r:?}");
    env.berth(&["delete", "-f", "ex"]).ok();
}

#[test]
fn exec_detached_is_in_the_cgroup_and_writes_the_pid_file() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "exd");
    let pid_file = env.dir("p").join("exec.pid");
    env.berth_bg(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "exd",
        "sleep",
        "999",
    ])
    .ok();
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pids: Vec<i64> =
        serde_json::from_str(&env.berth(&["ps", "-f", "json", "exd"]).ok()).unwrap();
    assert!(pids.contains(&pid), "{pid} not in {pids:?}");
    assert_eq!(pids.len(), 2);
    env.berth(&["delete", "-f", "exd"]).ok();
    assert!(!env.cgroup_exists("exd"));
}

#[test]
fn exec_with_a_process_file() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    running(&env, "exp");
    let pf = env.dir("p").join("process.json");
    std::fs::write(
        &pf,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo $X; id -u; grep CapEff /proc/self/status"],
            "env": ["X=from-file", "PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = env
        .berth(&["exec", "--process", pf.to_str().unwrap(), "exp"])
        .ok();
    assert_eq!(out, "from-file\n0\nCapEff:\t0000000000000020\n");
    env.berth(&["delete", "-f", "exp"]).ok();
}

#[test]
fn exec_refused_unless_running() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("exs", "true");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "exs"])
        .ok();
    for _ in 0..500 {
        if env.state("exs")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let e = env.berth(&["exec", "exs", "true"]).fails();
    assert!(e.contains("stopped"), "{e}");
    let e = env.berth(&["exec", "nope", "true"]).fails();
    assert!(e.contains("does not exist"), "{e}");
    env.berth(&["delete", "exs"]).ok();
}

#[test]
fn exec_with_a_terminal_through_the_console_socket() {
    if !is_root() {
        return;
    }
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let env = Env::new();
    running(&env, "ext");
    let sock_path = env.dir("console").join("exec.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let accept = std::thread::spawn(move || {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let (stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .unwrap();
        // SAFETY: the descriptor was just received and is owned here.
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    env.berth_bg(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        sock_path.to_str().unwrap(),
        "ext",
        "sh",
        "-c",
        "test -t 1 && echo exec-tty; tty",
    ])
    .ok();
    let mut f = std::fs::File::from(accept.join().unwrap());
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    while let Ok(n) = f.read(&mut chunk) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&out).replace('\r', "");
    assert!(text.starts_with("exec-tty\n/dev/pts/"), "{text:?}");
    let e = env.berth(&["exec", "-t", "-d", "ext", "true"]).fails();
    assert!(e.contains("--console-socket"), "{e}");
    env.berth(&["delete", "-f", "ext"]).ok();
}
