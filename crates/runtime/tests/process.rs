//! The container process: args, env, cwd, user, umask, rlimits, the five
//! capability sets, no_new_privs, oom_score_adj, seccomp, the console
//! socket, preserved descriptors and LISTEN_FDS, stdio passed through.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use runtime_support::{berth_bin, edit_config, is_root, Env};
use serde_json::json;

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn args_env_cwd_home() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited("args", "pwd; echo $FOO; echo $HOME; echo $0 $1", |v| {
        v["process"]["args"] = json!([
            "sh",
            "-c",
            "pwd; echo $FOO; echo $HOME; echo $0 $1",
            "zero",
            "one"
        ]);
        v["process"]["cwd"] = json!("/var/work");
        v["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    });
    assert_eq!(out, "/var/work\nbar baz\n/root\nzero one\n");
}

#[test]
fn user_groups_umask() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "user",
        "id -u; id -g; grep Groups /proc/self/status; umask; touch /dev/shm/f; stat -c %a /dev/shm/f; echo $HOME",
        |v| {
            v["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20], "umask": 63});
        },
    );
    assert_eq!(
        out,
        "65534\n65534\nGroups:\t10 20 \n0077\n600\n/nonexistent\n"
    );
}

#[test]
fn rlimits_are_set_and_capped_at_the_hard_limit() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "rlimits",
        "grep -E 'open files|core file' /proc/self/limits",
        |v| {
            v["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
            ]);
        },
    );
    let nofile = out
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        nofile.split_whitespace().collect::<Vec<_>>()[3..5],
        ["100", "200"]
    );
    let core = out
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "4096"]
    );

    // Asking above the current hard limit is capped there, not refused.
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    if hard.rlim_max != libc::RLIM_INFINITY {
        let out = env.run_edited("capped", "ulimit -Hn", |v| {
            v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1_000_000_000u64, "hard": 1_000_000_000u64}]);
        });
        assert_eq!(out.trim(), hard.rlim_max.to_string());
    }
}

#[test]
fn capability_sets_no_new_privs_oom_score() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let out = env.run_edited(
        "caps",
        "cat /proc/self/status; cat /proc/self/oom_score_adj",
        |v| {
            v["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            v["process"]["capabilities"] = json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
                "effective": ["CAP_CHOWN", "CAP_KILL"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
                "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
                "ambient": ["CAP_KILL"]
            });
            v["process"]["noNewPrivileges"] = json!(true);
            v["process"]["oomScoreAdj"] = json!(500);
        },
    );
    let bit = |n: u32| 1u64 << n;
    let hex = |m: u64| format!("{m:016x}");
    let (chown, kill, net_raw, setuid) = (0, 5, 13, 7);
    assert_eq!(
        status_field(&out, "CapBnd"),
        hex(bit(chown) | bit(kill) | bit(net_raw) | bit(setuid))
    );
    // execve as a non-root user keeps only the ambient set in permitted
    // and effective (the kernel's rule; runc containers show the same).
    assert_eq!(status_field(&out, "CapPrm"), hex(bit(kill)));
    assert_eq!(status_field(&out, "CapEff"), hex(bit(kill)));
    assert_eq!(status_field(&out, "CapInh"), hex(bit(kill) | bit(net_raw)));
    assert_eq!(status_field(&out, "CapAmb"), hex(bit(kill)));
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    assert_eq!(out.lines().last().unwrap(), "500");
}

#[test]
fn seccomp_profile_is_enforced() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let script = "mkdir /tmp/a 2>&1 | head -1; chmod 700 /tmp 2>&1 | head -1; echo still-running; grep Seccomp: /proc/self/status";
    let out = env.run_edited("seccomp", script, |v| {
        v["process"]["noNewPrivileges"] = json!(true);
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        });
    });
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Operation not permitted"), "{out}");
    assert!(lines[1].contains("Permission denied"), "{out}");
    assert_eq!(lines[2], "still-running");
    assert_eq!(lines[3].split_whitespace().last(), Some("2"));

    // Without no_new_privs too (the filter goes in while still privileged),
    // and a default-deny profile with an allow list.
    let out = env.run_edited(
        "seccomp2",
        "echo ok; mkdir /dev/shm/d 2>/dev/null || echo mkdir-denied; grep NoNewPrivs /proc/self/status",
        |v| {
            v["process"]["noNewPrivileges"] = json!(false);
            v["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
            });
        },
    );
    assert_eq!(out, "ok\nmkdir-denied\nNoNewPrivs:\t0\n");

    // Default deny with an allow list: what is not listed fails.
    let allow: Vec<&str> = vec![
        "read",
        "write",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "statx",
        "mmap",
        "munmap",
        "mprotect",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "execve",
        "exit",
        "exit_group",
        "arch_prctl",
        "set_tid_address",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "ioctl",
        "fcntl",
        "dup2",
        "dup3",
        "wait4",
        "clone",
        "clone3",
        "fork",
        "vfork",
        "uname",
        "prctl",
        "capget",
        "capset",
        "setgroups",
        "setresuid",
        "setresgid",
        "chdir",
        "umask",
        "seccomp",
        "close_range",
        "getcwd",
        "lseek",
        "access",
        "faccessat",
        "faccessat2",
        "readlink",
        "readlinkat",
        "stat",
        "lstat",
        "poll",
        "pipe",
        "pipe2",
        "getrandom",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "sigaltstack",
        "futex",
        "getdents64",
    ];
    let out = env.run_edited(
        "seccomp3",
        "echo allowed; mkdir /dev/shm/e 2>/dev/null || echo denied",
        |v| {
            v["process"]["noNewPrivileges"] = json!(true);
            v["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
            });
        },
    );
    assert_eq!(out, "allowed\ndenied\n");
}

/// Receives one descriptor over a unix socket (SCM_RIGHTS).
fn recv_fd(stream: &std::os::unix::net::UnixStream) -> (OwnedFd, Vec<u8>) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
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
        .expect("no descriptor received");
    let n = msg.bytes;
    // SAFETY: the descriptor was just received and is owned by no one else.
    (unsafe { OwnedFd::from_raw_fd(fd) }, buf[..n].to_vec())
}

#[test]
fn console_socket_gets_the_pty_master() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let sock_path = env.dir("console").join("c.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let b = env.bundle(
        "tty",
        "tty; test -t 0 && echo stdin-is-tty; stty size; ls -l /dev/console | cut -c1",
    );
    edit_config(&b, |v| {
        v["process"]["terminal"] = json!(true);
        v["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    let accept = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        recv_fd(&stream)
    });
    env.berth_bg(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        "tty",
    ])
    .ok();
    let (master, name) = accept.join().unwrap();
    assert!(
        String::from_utf8_lossy(&name).starts_with("/dev/pts/"),
        "{name:?}"
    );
    env.berth(&["start", "tty"]).ok();
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    // Reading ends with EIO once the container closes the slave.
    let mut chunk = [0u8; 1024];
    loop {
        match f.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).replace('\r', "");
    assert_eq!(
        text,
        format!(
            "{}\nstdin-is-tty\n33 101\nc\n",
            String::from_utf8_lossy(&name)
        )
    );
    for _ in 0..500 {
        if env.state("tty")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    env.berth(&["delete", "tty"]).ok();
}

#[test]
fn stdio_preserved_fds_and_listen_fds() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    // stdin passes straight through.
    let b = env.bundle("stdin", "tr a-z A-Z");
    let mut c = Command::new(berth_bin());
    c.arg("runtime").arg("--root").arg(&env.root).args([
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "stdin",
    ]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = env.host.spawn(&mut c).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");

    // --preserve-fds 2 keeps descriptors 3 and 4; 5 is closed.
    let extra = env.dir("fds").join("extra");
    std::fs::write(&extra, "from-fd3\n").unwrap();
    let b = env.bundle("fds", "cat <&3; echo fd4 >&4; test -e /proc/self/fd/5 && echo fd5-leaked; ls /proc/self/fd | wc -l");
    let script = format!(
        "exec 3<{0} 4>{0}.4 5<{0}; exec {1} runtime --root {2} run --preserve-fds 2 --bundle {3} fds",
        extra.display(),
        berth_bin().display(),
        env.root.display(),
        b.display()
    );
    let out = env.host.sh(&script).unwrap();
    assert_eq!(out, "from-fd3\n6\n");
    assert_eq!(
        std::fs::read_to_string(format!("{}.4", extra.display())).unwrap(),
        "fd4\n"
    );

    // LISTEN_FDS meant for this process are passed on (fd 3), with the
    // container's LISTEN_PID=1.
    let b = env.bundle("listen", "echo $LISTEN_FDS $LISTEN_PID; cat <&3");
    let script = format!(
        "exec 3<{0}; export LISTEN_FDS=1; exec sh -c 'export LISTEN_PID=$$; exec {1} runtime --root {2} run --bundle {3} listen'",
        extra.display(),
        berth_bin().display(),
        env.root.display(),
        b.display()
    );
    let out = env.host.sh(&script).unwrap();
    assert_eq!(out, "1 1\nfrom-fd3\n");
}

#[test]
fn process_arg0_is_resolved_on_the_container_path() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    // `echo` found only through the container's PATH (not /bin).
    let b = env.bundle("path", "true");
    std::fs::create_dir_all(b.join("rootfs/opt/tools")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", b.join("rootfs/opt/tools/echo")).unwrap();
    edit_config(&b, |v| {
        v["process"]["args"] = json!(["echo", "found"]);
        v["process"]["env"] = json!(["PATH=/nope:/opt/tools"]);
    });
    let out = env
        .berth(&["run", "--bundle", b.to_str().unwrap(), "path"])
        .ok();
    assert_eq!(out, "found\n");
}

#[test]
fn foreground_terminal_is_relayed_without_a_console_socket() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "relay",
        "tty; test -t 0 && echo in-tty; read x; echo got-$x; exit 4",
    );
    edit_config(&b, |v| v["process"]["terminal"] = json!(true));
    let mut c = Command::new(berth_bin());
    c.arg("runtime").arg("--root").arg(&env.root).args([
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "relay",
    ]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = env.host.spawn(&mut c).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    // The terminal echoes our input wherever it lands among the output.
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("in-tty\n"), "{text:?}");
    assert!(text.contains("got-hello\n"), "{text:?}");

    // exec -t in the foreground relays the same way.
    let b = env.bundle("relay2", "exec sleep 1000");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "relay2"])
        .ok();
    let r = env.berth(&[
        "exec",
        "-t",
        "relay2",
        "sh",
        "-c",
        "test -t 1 && echo exec-in-tty",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.replace('\r', ""), "exec-in-tty\n");
    env.berth(&["delete", "-f", "relay2"]).ok();
}
