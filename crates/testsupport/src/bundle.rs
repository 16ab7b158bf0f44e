//! OCI bundles made from the host's `/bin/busybox` (Debian's `busybox-static`).
//!
//! A test gets a complete, runnable bundle — `rootfs/` with busybox and its
//! applet links, a minimal `/etc`, and a `config.json` shaped like `runc spec`
//! — without a registry or a download. The same bundle runs under berth's
//! runtime, runc and crun, which is what differential tests need.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_testsupport::bundle::BundleError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let mut bundle = berth_testsupport::bundle::Bundle::busybox(dir.path().join("b"))?;
//! bundle.set_args(["sh", "-c", "echo hi"]).with_config(|spec| {
//!     spec.set_hostname(Some("web".into()));
//! });
//! bundle.write()?;
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{
    get_default_maskedpaths, get_default_mounts, get_default_namespaces,
    get_default_readonly_paths, Capabilities, Capability, LinuxCapabilities,
    LinuxDeviceCgroupBuilder, LinuxResourcesBuilder, Spec,
};
use oci_spec::OciSpecError;

/// Where Debian's `busybox-static` installs the binary.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// OCI runtime-spec version written into `config.json`.
pub const OCI_VERSION: &str = "1.2.0";

/// Applets every busybox bundle must provide: tests rely on these names.
/// Every other applet the host busybox lists is linked as well.
pub const REQUIRED_APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "ip", "ping", "wget", "nc", "httpd", "nslookup", "cat", "echo",
    "hostname", "id", "ls", "ps", "mount", "umount", "env", "grep", "sed", "head", "tail", "wc",
    "ifconfig", "route", "kill", "touch", "mkdir", "rm", "printf", "test", "[", "seq", "uname",
    "df", "top", "free", "dd", "yes", "timeout", "stat", "readlink",
];

pub(crate) const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub(crate) const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
pub(crate) const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Why a bundle could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("busybox binary {0} not found (install busybox-static)")]
    BusyboxMissing(PathBuf),
    #[error("{path} already exists; refusing to overwrite a rootfs")]
    RootfsExists { path: PathBuf },
    #[error("cannot list applets of {busybox}: {reason}")]
    AppletList { busybox: PathBuf, reason: String },
    #[error("busybox {busybox} lacks the applets {missing:?}")]
    AppletsMissing {
        busybox: PathBuf,
        missing: Vec<String>,
    },
    #[error("{op} {path}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("config.json: {0}")]
    Spec(#[from] OciSpecError),
}

type Result<T> = std::result::Result<T, BundleError>;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |error| BundleError::Io { op, path, error }
}

/// An OCI bundle directory: `config.json` plus `rootfs/`.
///
/// The spec is held in memory; edits take effect on disk at [`Bundle::write`].
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    spec: Spec,
}

impl Bundle {
    /// Builds a busybox bundle in `dir` (created if missing) from
    /// [`HOST_BUSYBOX`] and writes the default `config.json`.
    pub fn busybox(dir: impl AsRef<Path>) -> Result<Bundle> {
        Self::busybox_from(dir, HOST_BUSYBOX)
    }

    /// Like [`Bundle::busybox`], with the busybox binary taken from `busybox`.
    pub fn busybox_from(dir: impl AsRef<Path>, busybox: impl AsRef<Path>) -> Result<Bundle> {
        let dir = dir.as_ref().to_path_buf();
        let busybox = busybox.as_ref();
        if !busybox.is_file() {
            return Err(BundleError::BusyboxMissing(busybox.to_path_buf()));
        }
        let applets = list_applets(busybox)?;
        let rootfs = dir.join("rootfs");
        if rootfs.symlink_metadata().is_ok() {
            return Err(BundleError::RootfsExists { path: rootfs });
        }
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        // Build under a temporary name and rename at the end, so a failure
        // part-way leaves no half-made rootfs behind.
        let partial = dir.join(".rootfs.partial");
        if partial.symlink_metadata().is_ok() {
            fs::remove_dir_all(&partial).map_err(io_err("remove", &partial))?;
        }
        let built = populate_rootfs(&partial, busybox, &applets)
            .and_then(|()| fs::rename(&partial, &rootfs).map_err(io_err("rename", &partial)));
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
        let bundle = Bundle {
            dir,
            spec: default_spec(),
        };
        bundle.write()?;
        Ok(bundle)
    }

    /// Opens an existing bundle by reading its `config.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Bundle> {
        let dir = dir.as_ref().to_path_buf();
        let spec = Spec::load(dir.join("config.json"))?;
        Ok(Bundle { dir, spec })
    }

    /// The bundle directory (what `runc --bundle` takes).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The root filesystem directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Path of `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The in-memory spec (written by [`Bundle::write`]).
    pub fn config(&self) -> &Spec {
        &self.spec
    }

    /// Sets `process.args`.
    pub fn set_args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        self.with_config(|spec| {
            let mut process = spec.process().clone().unwrap_or_default();
            process.set_args(Some(args));
            spec.set_process(Some(process));
        })
    }

    /// Edits the spec with oci-spec's setters.
    pub fn with_config(&mut self, edit: impl FnOnce(&mut Spec)) -> &mut Self {
        edit(&mut self.spec);
        self
    }

    /// Writes `config.json`.
    pub fn write(&self) -> Result<()> {
        self.spec.save(self.config_path())?;
        Ok(())
    }
}

/// The default `config.json`, as `runc spec` makes it (root, not rootless):
/// `sh`, no terminal, pid/network/ipc/uts/mount/cgroup namespaces, the usual
/// /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and /sys mounts, masked and
/// read-only paths, the three default capabilities and a deny-all device
/// cgroup.
///
/// Unlike `runc spec` it mounts no cgroupfs at /sys/fs/cgroup: on this
/// machine's hybrid v1/v2 layout that mount means a dozen bind mounts whose
/// shape differs between runtimes, and busybox tests need none of it. A test
/// that wants it adds the mount itself.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned());
    spec.set_hostname(Some("berth".to_owned()));
    spec.set_annotations(None);

    let mounts = get_default_mounts()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .collect();
    spec.set_mounts(Some(mounts));

    if let Some(mut process) = spec.process().clone() {
        process.set_terminal(Some(false));
        process.set_args(Some(vec!["sh".to_owned()]));
        let caps: Capabilities = [
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into_iter()
        .collect();
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(caps.clone()));
        lc.set_effective(Some(caps.clone()));
        lc.set_permitted(Some(caps));
        // runc spec (1.2 on) leaves the inheritable and ambient sets empty:
        // inheritable caps would survive an exec of a file with
        // inheritable file caps, and ambient ones cannot be raised
        // without them (runc warns).
        lc.set_inheritable(None);
        lc.set_ambient(None);
        process.set_capabilities(Some(lc));
        spec.set_process(Some(process));
    }

    if let Some(mut linux) = spec.linux().clone() {
        linux.set_namespaces(Some(get_default_namespaces()));
        linux.set_masked_paths(Some(get_default_maskedpaths()));
        linux.set_readonly_paths(Some(get_default_readonly_paths()));
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build();
        let resources =
            deny_all.and_then(|rule| LinuxResourcesBuilder::default().devices(vec![rule]).build());
        // Both builders only fail on missing required fields, which are all
        // set above; keep the spec's own resources if that ever changes.
        if let Ok(resources) = resources {
            linux.set_resources(Some(resources));
        }
        spec.set_linux(Some(linux));
    }
    spec
}

/// Applet names the busybox binary says it has (`busybox --list`).
pub(crate) fn list_applets(busybox: &Path) -> Result<BTreeSet<String>> {
    let err = |reason: String| BundleError::AppletList {
        busybox: busybox.to_path_buf(),
        reason,
    };
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!("exited with {}", out.status)));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| err(e.to_string()))?;
    let applets: BTreeSet<String> = text
        .lines()
        .map(str::trim)
        // An applet name becomes a file name: keep only plain names.
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "." && *a != "..")
        .map(str::to_owned)
        .collect();
    let missing: Vec<String> = REQUIRED_APPLETS
        .iter()
        .filter(|a| !applets.contains(**a))
        .map(|a| (*a).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(BundleError::AppletsMissing {
            busybox: busybox.to_path_buf(),
            missing,
        });
    }
    Ok(applets)
}

fn populate_rootfs(rootfs: &Path, busybox: &Path, applets: &BTreeSet<String>) -> Result<()> {
    for d in [
        "bin", "dev", "etc", "proc", "sys", "root", "run", "var", "usr", "tmp",
    ] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).map_err(io_err("create", &p))?;
    }
    let tmp = rootfs.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).map_err(io_err("chmod", &tmp))?;

    let bin = rootfs.join("bin");
    let target = bin.join("busybox");
    fs::copy(busybox, &target).map_err(io_err("copy busybox to", &target))?;
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
        .map_err(io_err("chmod", &target))?;
    for applet in applets.iter().filter(|a| a.as_str() != "busybox") {
        let link = bin.join(applet);
        symlink("busybox", &link).map_err(io_err("symlink", &link))?;
    }
    // Scripts written for Debian call /usr/bin/env and /sbin/ip: point those
    // directories at /bin.
    for (dir, name) in [("usr", "bin"), ("usr", "sbin")] {
        let link = rootfs.join(dir).join(name);
        symlink("../bin", &link).map_err(io_err("symlink", &link))?;
    }
    let sbin = rootfs.join("sbin");
    symlink("bin", &sbin).map_err(io_err("symlink", &sbin))?;

    for (name, content) in [
        ("passwd", PASSWD),
        ("group", GROUP),
        ("hosts", HOSTS),
        ("resolv.conf", ""),
        ("hostname", "berth\n"),
    ] {
        let p = rootfs.join("etc").join(name);
        fs::write(&p, content).map_err(io_err("write", &p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_busybox() -> Option<&'static Path> {
        let p = Path::new(HOST_BUSYBOX);
        if p.is_file() {
            Some(p)
        } else {
            eprintln!("skipping: {HOST_BUSYBOX} missing (apt-get install busybox-static)");
            None
        }
    }

    #[test]
    fn busybox_bundle_has_applets_etc_and_config(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let Some(_) = host_busybox() else {
            return Ok(());
        };
        let tmp = tempfile::tempdir()?;
        let bundle = Bundle::busybox(tmp.path().join("b"))?;
        let rootfs = bundle.rootfs();
        assert!(rootfs.join("bin/busybox").is_file());
        for applet in REQUIRED_APPLETS {
            let link = rootfs.join("bin").join(applet);
            assert_eq!(fs::read_link(&link)?, Path::new("busybox"), "{applet}");
        }
        assert!(fs::read_to_string(rootfs.join("etc/passwd"))?.starts_with("root:x:0:0:"));
        assert!(fs::read_to_string(rootfs.join("etc/group"))?.starts_with("root:x:0:"));
        assert!(fs::read_to_string(rootfs.join("etc/hosts"))?.contains("localhost"));
        assert_eq!(fs::read_to_string(rootfs.join("etc/resolv.conf"))?, "");
        assert!(!tmp.path().join("b/.rootfs.partial").exists());

        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(bundle.config_path())?)?;
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(json["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(json["process"]["terminal"], false);
        assert_eq!(json["root"]["path"], "rootfs");
        let ns: Vec<&str> = json["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        Ok(())
    }

    #[test]
    fn applets_run_through_their_links() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let Some(_) = host_busybox() else {
            return Ok(());
        };
        let tmp = tempfile::tempdir()?;
        let bundle = Bundle::busybox(tmp.path())?;
        // Runs the copied binary via an applet link, outside any container:
        // proves the copy is executable and the link resolves to the applet.
        let out = Command::new(bundle.rootfs().join("bin/echo"))
            .args(["berth", "ok"])
            .output()?;
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout)?, "berth ok\n");
        let out = Command::new(bundle.rootfs().join("bin/false")).status()?;
        assert_eq!(out.code(), Some(1));
        Ok(())
    }

    #[test]
    fn edits_reach_config_json_only_on_write() -> std::result::Result<(), Box<dyn std::error::Error>>
    {
        let Some(_) = host_busybox() else {
            return Ok(());
        };
        let tmp = tempfile::tempdir()?;
        let mut bundle = Bundle::busybox(tmp.path())?;
        bundle.set_args(["sleep", "5"]).with_config(|spec| {
            spec.set_hostname(Some("web".into()));
        });
        assert_eq!(
            Bundle::open(tmp.path())?.config().hostname().as_deref(),
            Some("berth")
        );
        bundle.write()?;
        let reopened = Bundle::open(tmp.path())?;
        assert_eq!(reopened.config().hostname().as_deref(), Some("web"));
        let args = reopened
            .config()
            .process()
            .as_ref()
            .and_then(|p| p.args().clone());
        assert_eq!(args, Some(vec!["sleep".to_owned(), "5".to_owned()]));
        Ok(())
    }

    #[test]
    fn existing_rootfs_is_not_overwritten() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let Some(_) = host_busybox() else {
            return Ok(());
        };
        let tmp = tempfile::tempdir()?;
        fs::create_dir(tmp.path().join("rootfs"))?;
        fs::write(tmp.path().join("rootfs/keep"), "x")?;
        let err = Bundle::busybox(tmp.path()).err();
        assert!(
            matches!(err, Some(BundleError::RootfsExists { .. })),
            "{err:?}"
        );
        assert!(tmp.path().join("rootfs/keep").exists());
        Ok(())
    }

    #[test]
    fn missing_busybox_is_a_precise_error_and_leaves_nothing(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("b");
        let err = Bundle::busybox_from(&dir, tmp.path().join("no-such-busybox")).err();
        assert!(
            matches!(err, Some(BundleError::BusyboxMissing(_))),
            "{err:?}"
        );
        assert!(!dir.exists());
        Ok(())
    }

    #[test]
    fn a_binary_without_required_applets_is_refused(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        // /bin/true prints nothing for --list: zero applets.
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("b");
        match Bundle::busybox_from(&dir, "/bin/true") {
            Err(BundleError::AppletsMissing { missing, .. }) => {
                assert_eq!(missing.len(), REQUIRED_APPLETS.len());
            }
            other => panic!("expected AppletsMissing, got {other:?}"),
        }
        assert!(!dir.exists());
        Ok(())
    }

    #[test]
    fn default_spec_matches_runc_shape() {
        let spec = default_spec();
        assert_eq!(spec.version(), OCI_VERSION);
        let mounts: Vec<&Path> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().as_path())
            .collect();
        assert_eq!(
            mounts,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys"
            ]
            .map(Path::new)
        );
        let linux = spec.linux().as_ref();
        assert!(linux
            .and_then(|l| l.masked_paths().as_ref())
            .is_some_and(|m| m.iter().any(|p| p == "/proc/kcore")));
        assert!(linux
            .and_then(|l| l.readonly_paths().as_ref())
            .is_some_and(|m| m.iter().any(|p| p == "/proc/sys")));
        let caps = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref())
            .and_then(|c| c.bounding().clone())
            .unwrap_or_default();
        assert_eq!(caps.len(), 3);
        assert!(caps.contains(&Capability::NetBindService));
    }
}
