//! The OCI config.json for a container, from its Docker config with
//! Docker's defaults: capability set, masked and read-only paths, mounts,
//! namespaces, resources.

use std::path::Path;

use serde_json::{json, Value};

use super::record::{ContainerRecord, MountRecord};
use crate::error::{EngineError, Result};

/// Docker's default capabilities.
pub use berth_runtime::security::caps::ENGINE_DEFAULT as DEFAULT_CAPS;

/// Every capability the kernel has (for --privileged and `ALL`).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Every capability the daemon itself holds in its bounding set (ALL_CAPS
/// is in kernel number order): "all" for `--privileged` means these, as
/// with dockerd, since a container cannot get more than its runtime has.
fn all_held() -> Vec<String> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The capability set after --privileged, --cap-add and --cap-drop.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    if privileged {
        return Ok(all_held());
    }
    let known = |c: &str| ALL_CAPS.contains(&c);
    let mut caps: Vec<String> = if drop.iter().any(|d| d.eq_ignore_ascii_case("all")) {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    for d in drop.iter().filter(|d| !d.eq_ignore_ascii_case("all")) {
        let d = cap_name(d);
        if !known(&d) {
            return Err(EngineError::Invalid(format!("unknown capability: \"{d}\"")));
        }
        caps.retain(|c| *c != d);
    }
    for a in add {
        if a.eq_ignore_ascii_case("all") {
            return Ok(all_held());
        }
        let a = cap_name(a);
        if !known(&a) {
            return Err(EngineError::Invalid(format!("unknown capability: \"{a}\"")));
        }
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

/// A user as the process runs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

fn lookup(file: &Path, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|f| f.first().is_some_and(|n| n == name))
}

/// Resolves Docker's `user[:group]` (names or numbers) against the rootfs.
pub fn resolve_user(rootfs: &Path, spec: &str, group_add: &[String]) -> Result<ProcessUser> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = rootfs.join("etc/passwd");
    let group = rootfs.join("etc/group");
    let mut user = ProcessUser {
        home: "/".into(),
        ..ProcessUser::default()
    };
    if u.is_empty() {
        user.home = "/root".into();
    } else if let Ok(uid) = u.parse::<u32>() {
        user.uid = uid;
        if let Some(f) = std::fs::read_to_string(&passwd).ok().and_then(|t| {
            t.lines()
                .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
                .find(|f| f.get(2).is_some_and(|x| x == u))
        }) {
            user.gid = f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
            user.home = f.get(5).cloned().unwrap_or_else(|| "/".into());
        }
    } else {
        let f = lookup(&passwd, u).ok_or_else(|| {
            EngineError::Invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?;
        user.uid = f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0);
        user.gid = f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
        user.home = f.get(5).cloned().unwrap_or_else(|| "/".into());
    }
    let group_id = |g: &str| -> Result<u32> {
        if let Ok(n) = g.parse::<u32>() {
            return Ok(n);
        }
        lookup(&group, g)
            .and_then(|f| f.get(2).and_then(|x| x.parse().ok()))
            .ok_or_else(|| {
                EngineError::Invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        user.gid = group_id(g)?;
    }
    for g in group_add {
        user.additional_gids.push(group_id(g)?);
    }
    Ok(user)
}

/// Namespaces joined from other running containers, by their init PID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SharedNamespaces {
    pub pid: Option<i64>,
    pub ipc: Option<i64>,
}

/// Inputs the config needs besides the record.
pub struct SpecInputs<'a> {
    pub rootfs: &'a Path,
    /// The container's netns (None: the daemon's, for host mode).
    pub netns: Option<&'a Path>,
    /// Another container's init PID whose netns to join.
    pub join_netns_pid: Option<i64>,
    /// Other containers' init PIDs whose PID / IPC namespaces to join
    /// (`--pid container:X`, `--ipc container:X`).
    pub shared: SharedNamespaces,
    /// Where hostname, hosts and resolv.conf are.
    pub files_dir: &'a Path,
    pub cgroup_parent: &'a str,
    pub hostname: &'a str,
    pub user: &'a ProcessUser,
    /// The host's init binary when the container runs with `--init`.
    pub init: Option<&'a Path>,
    /// What /dev/shm is (from the IPC mode).
    pub shm: &'a super::ipc_shm::Shm,
    /// The variables its legacy links set (before its own env).
    pub link_env: &'a [String],
}

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({ "destination": dest, "type": kind, "source": source, "options": options })
}

fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv.split('=').next().unwrap_or("").to_owned();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(kv);
}

/// The config.json of a container.
pub fn build(rec: &ContainerRecord, inp: &SpecInputs) -> Result<Value> {
    let hc = &rec.host_config;
    let cfg = &rec.config;
    let privileged = hc.privileged.unwrap_or(false);
    let caps = capabilities(
        privileged,
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    let tty = rec.tty();

    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        format!("HOSTNAME={}", inp.hostname),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    // The container's own env overrides its links' (as dockerd).
    env.extend(inp.link_env.iter().cloned());
    for kv in cfg.env.iter().flatten() {
        set_env(&mut env, kv.clone());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", inp.user.home));
    }
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    if inp.init.is_some() {
        args = super::init::wrap(args);
    }
    let cwd = cfg
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());

    let mut rlimits = Vec::new();
    for u in hc.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        rlimits.push(json!({
            "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
            "soft": u.soft.unwrap_or(0),
            "hard": u.hard.unwrap_or(0),
        }));
    }

    let shm_opt = format!("size={}", super::ipc_shm::size(rec));
    let sys_opts: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    match inp.shm {
        super::ipc_shm::Shm::Private => mounts.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        )),
        super::ipc_shm::Shm::Bind(dir) => mounts.push(mount(
            "/dev/shm",
            "bind",
            &dir.to_string_lossy(),
            &["rbind", "rprivate", "nosuid", "noexec", "nodev"],
        )),
        super::ipc_shm::Shm::None => {}
    }
    for f in ["resolv.conf", "hostname", "hosts"] {
        let dest = format!("/etc/{f}");
        let user_mounted = rec.mounts.iter().any(|m| m.destination == dest);
        if !user_mounted {
            let src = inp.files_dir.join(f);
            mounts.push(mount(
                &dest,
                "bind",
                &src.to_string_lossy(),
                &["rbind", "rprivate"],
            ));
        }
    }
    for m in &rec.mounts {
        mounts.push(user_mount(m));
    }
    if let Some(init) = inp.init {
        mounts.push(mount(
            super::init::CONTAINER_PATH,
            "bind",
            &init.to_string_lossy(),
            &["bind", "ro"],
        ));
    }

    let mut namespaces = vec![json!({"type": "mount"})];
    if let Some(pid) = inp.shared.pid {
        namespaces.push(json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
    } else if hc.pid_mode.as_deref() != Some("host") {
        namespaces.push(json!({"type": "pid"}));
    }
    if let Some(pid) = inp.shared.ipc {
        namespaces.push(json!({"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}));
        // The donor's /dev/shm comes with it (see ipc_shm).
    } else if hc.ipc_mode.as_deref() != Some("host") {
        namespaces.push(json!({"type": "ipc"}));
    }
    if hc.uts_mode.as_deref() != Some("host") {
        namespaces.push(json!({"type": "uts"}));
    }
    if let Some(ns) = inp.netns {
        namespaces.push(json!({"type": "network", "path": ns}));
    } else if let Some(pid) = inp.join_netns_pid {
        namespaces.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
    }
    if matches!(
        hc.cgroupns_mode,
        Some(bollard_stubs::models::HostConfigCgroupnsModeEnum::PRIVATE)
    ) {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut resources = resources(hc);
    let mut device_rules = vec![json!({ "allow": privileged, "access": "rwm" })];
    let mut devices = Vec::new();
    for d in hc.devices.iter().flatten() {
        let dev = host_device(d)?;
        device_rules.push(json!({
            "allow": true,
            "type": dev.kind,
            "major": dev.major,
            "minor": dev.minor,
            "access": dev.access,
        }));
        devices.push(json!({
            "path": dev.path,
            "type": dev.kind,
            "major": dev.major,
            "minor": dev.minor,
            "fileMode": dev.mode,
            "uid": dev.uid,
            "gid": dev.gid,
        }));
    }
    resources["devices"] = json!(device_rules);

    let parent = hc
        .cgroup_parent
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| inp.cgroup_parent.to_owned());
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        // Absolute, as dockerd's cgroupfs driver makes it: a relative path
        // would land under whatever cgroup the daemon itself is in.
        "cgroupsPath": format!("/{}/{}", parent.trim_matches('/'), rec.id),
        "sysctl": hc.sysctls.clone().unwrap_or_default(),
    });
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    if let Some(profile) =
        super::seccomp::for_container(hc.security_opt.as_deref().unwrap_or(&[]), privileged, &caps)?
    {
        linux["seccomp"] = profile;
    }
    if !privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }

    let mut process = json!({
        "terminal": tty,
        "user": {
            "uid": inp.user.uid,
            "gid": inp.user.gid,
            "additionalGids": inp.user.additional_gids,
        },
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "noNewPrivileges": hc
            .security_opt
            .iter()
            .flatten()
            .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"),
    });
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    if let Some(size) = hc
        .console_size
        .as_ref()
        .filter(|s| s.len() == 2 && s[0] > 0)
    {
        process["consoleSize"] = json!({ "height": size[0], "width": size[1] });
    }
    let mut config = json!({
        "ociVersion": berth_runtime::OCI_VERSION,
        "process": process,
        "root": { "path": inp.rootfs, "readonly": hc.readonly_rootfs.unwrap_or(false) },
        "mounts": mounts,
        "linux": linux,
    });
    // With the host's UTS namespace the container has the host's name.
    if hc.uts_mode.as_deref() != Some("host") {
        config["hostname"] = json!(inp.hostname);
    }
    Ok(config)
}

/// A `--device HOST[:CONTAINER[:PERMS]]` as the OCI config takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    pub path: String,
    pub kind: &'static str,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub access: String,
}

/// Looks the device up on the host (400 for a missing or non-device path
/// or bad permissions, as dockerd says).
pub fn host_device(d: &bollard_stubs::models::DeviceMapping) -> Result<HostDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let host = d.path_on_host.clone().unwrap_or_default();
    let inside = d
        .path_in_container
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| host.clone());
    let access = d
        .cgroup_permissions
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "rwm".into());
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(EngineError::Invalid(format!(
            "invalid device permissions {access:?} for {host}: only r, w and m"
        )));
    }
    if !inside.starts_with('/') {
        return Err(EngineError::Invalid(format!(
            "invalid device path in container: {inside}"
        )));
    }
    let m = std::fs::metadata(&host).map_err(|e| {
        EngineError::Invalid(format!(
            "error gathering device information while adding custom device {host:?}: {e}"
        ))
    })?;
    let ft = m.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(EngineError::Invalid(format!(
            "error gathering device information while adding custom device {host:?}: not a device node"
        )));
    };
    let rdev = m.rdev();
    Ok(HostDevice {
        path: inside,
        kind,
        major: libc::major(rdev) as u64,
        minor: libc::minor(rdev) as u64,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        access,
    })
}

/// The OCI `linux.resources` of HostConfig's limits (without devices).
pub fn resources(hc: &bollard_stubs::models::HostConfig) -> Value {
    let mut resources = json!({});
    let mut memory = serde_json::Map::new();
    if let Some(m) = hc.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(m));
        match hc.memory_swap {
            Some(s) if s != 0 => {
                memory.insert("swap".into(), json!(s));
            }
            _ => {
                memory.insert("swap".into(), json!(m * 2));
            }
        }
    }
    if let Some(r) = hc.memory_reservation.filter(|m| *m > 0) {
        memory.insert("reservation".into(), json!(r));
    }
    if hc.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(n) = hc.nano_cpus.filter(|n| *n > 0) {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(n / 10_000));
    } else {
        if let Some(q) = hc.cpu_quota.filter(|q| *q > 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = hc.cpu_period.filter(|p| *p > 0) {
            cpu.insert("period".into(), json!(p));
        }
    }
    if let Some(c) = hc.cpuset_cpus.clone().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = hc.cpuset_mems.clone().filter(|c| !c.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        resources["pids"] = json!({ "limit": p });
    }

    resources
}

fn user_mount(m: &MountRecord) -> Value {
    if m.kind == "tmpfs" {
        let mut opts = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
        opts.extend(m.options.iter().cloned());
        return json!({ "destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts });
    }
    let mut opts = vec![
        "rbind".to_owned(),
        if m.rw { "rw" } else { "ro" }.to_owned(),
    ];
    opts.push(if m.propagation.is_empty() {
        "rprivate".to_owned()
    } else {
        m.propagation.clone()
    });
    json!({ "destination": m.destination, "type": "bind", "source": m.source, "options": opts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_add_and_drop() {
        let none: Vec<String> = Vec::new();
        let d = capabilities(false, &none, &none).expect("caps");
        assert_eq!(d.len(), DEFAULT_CAPS.len());
        let c = capabilities(false, &["NET_ADMIN".into()], &["chown".into()]).expect("caps");
        assert!(c.contains(&"CAP_NET_ADMIN".to_owned()));
        assert!(!c.contains(&"CAP_CHOWN".to_owned()));
        let only = capabilities(false, &["KILL".into()], &["ALL".into()]).expect("caps");
        assert_eq!(only, vec!["CAP_KILL".to_owned()]);
        assert!(capabilities(false, &["BOGUS".into()], &none).is_err());
        let all = capabilities(true, &none, &none).expect("caps");
        assert!(all.len() >= DEFAULT_CAPS.len() && all.len() <= ALL_CAPS.len());
    }

    #[test]
    fn users_resolve_from_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("etc")).expect("etc");
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").expect("group");
        let u = resolve_user(dir.path(), "nobody", &[]).expect("user");
        assert_eq!((u.uid, u.gid, u.home.as_str()), (65534, 65534, "/home"));
        let u = resolve_user(dir.path(), "1000:staff", &["7".into()]).expect("user");
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 50, vec![7]));
        assert!(resolve_user(dir.path(), "ghost", &[]).is_err());
        assert_eq!(
            resolve_user(dir.path(), "", &[]).expect("root").home,
            "/root"
        );
    }
}
