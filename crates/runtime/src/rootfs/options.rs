//! Mount options of config.json split the way mount(2) wants them: flags to
//! set, flags to clear, propagation changes (separate mount calls), and the
//! rest joined into the filesystem's data string.

use std::ffi::c_ulong;

/// Parsed `options` of one mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags to set.
    pub flags: c_ulong,
    /// MS_* flags the options explicitly clear (e.g. `rw`, `suid`).
    pub cleared: c_ulong,
    /// Propagation flags, applied one by one after the mount.
    pub propagation: Vec<c_ulong>,
    /// Filesystem-specific options, comma-joined.
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` (recursive bind) was given.
    pub recursive: bool,
    /// `tmpcopyup`: fill a tmpfs with what its mount point held (runc).
    pub copy_up: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true), the whole tree).
    pub idmap: Option<bool>,
}

/// MS_* flag named by a mount option: (flag, true = set / false = clear).
fn flag_option(o: &str) -> Option<(c_ulong, bool)> {
    Some(match o {
        "ro" => (libc::MS_RDONLY, true),
        "rw" => (libc::MS_RDONLY, false),
        "nosuid" => (libc::MS_NOSUID, true),
        "suid" => (libc::MS_NOSUID, false),
        "nodev" => (libc::MS_NODEV, true),
        "dev" => (libc::MS_NODEV, false),
        "noexec" => (libc::MS_NOEXEC, true),
        "exec" => (libc::MS_NOEXEC, false),
        "sync" => (libc::MS_SYNCHRONOUS, true),
        "async" => (libc::MS_SYNCHRONOUS, false),
        "dirsync" => (libc::MS_DIRSYNC, true),
        "remount" => (libc::MS_REMOUNT, true),
        "mand" => (libc::MS_MANDLOCK, true),
        "nomand" => (libc::MS_MANDLOCK, false),
        "noatime" => (libc::MS_NOATIME, true),
        "atime" => (libc::MS_NOATIME, false),
        "nodiratime" => (libc::MS_NODIRATIME, true),
        "diratime" => (libc::MS_NODIRATIME, false),
        "relatime" => (libc::MS_RELATIME, true),
        "norelatime" => (libc::MS_RELATIME, false),
        "strictatime" => (libc::MS_STRICTATIME, true),
        "nostrictatime" => (libc::MS_STRICTATIME, false),
        "lazytime" => (libc::MS_LAZYTIME, true),
        "nolazytime" => (libc::MS_LAZYTIME, false),
        "silent" => (libc::MS_SILENT, true),
        "loud" => (libc::MS_SILENT, false),
        "nosymfollow" => (libc::MS_NOSYMFOLLOW, true),
        "symfollow" => (libc::MS_NOSYMFOLLOW, false),
        _ => return None,
    })
}

/// MS_* propagation flags named by `rootfsPropagation` or a mount option.
pub fn propagation_flag(o: &str) -> Option<c_ulong> {
    Some(match o {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// Error for options that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mount option {0:?} is not supported")]
pub struct UnsupportedOption(pub String);

/// Splits `options` into flags, propagation and data.
pub fn parse(options: &[String]) -> Result<MountOptions, UnsupportedOption> {
    let mut m = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        let o = o.as_str();
        if let Some((flag, set)) = flag_option(o) {
            if set {
                m.flags |= flag;
                m.cleared &= !flag;
            } else {
                m.flags &= !flag;
                m.cleared |= flag;
            }
        } else if let Some(p) = propagation_flag(o) {
            m.propagation.push(p);
        } else if o == "bind" {
            m.bind = true;
        } else if o == "rbind" {
            m.bind = true;
            m.recursive = true;
        } else if o == "tmpcopyup" {
            m.copy_up = true;
        } else if o == "idmap" {
            m.idmap = Some(false);
        } else if o == "ridmap" {
            m.idmap = Some(true);
        } else if o.starts_with("rro") || o.starts_with("rrw") {
            // Recursive read-only (mount_setattr) is not implemented:
            // refusing beats silently mounting writable.
            return Err(UnsupportedOption(o.to_owned()));
        } else if !o.is_empty() {
            data.push(o);
        }
    }
    m.data = data.join(",");
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let m = parse(&opts(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]))
        .expect("parse");
        assert_eq!(m.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert!(!m.bind);

        let m = parse(&opts(&["rbind", "ro", "rw"])).expect("parse");
        assert!(m.bind && m.recursive);
        assert_eq!(m.flags & libc::MS_RDONLY, 0);
        assert_eq!(m.cleared, libc::MS_RDONLY);

        assert_eq!(parse(&opts(&["idmap"])).map(|m| m.idmap), Ok(Some(false)));
        assert_eq!(parse(&opts(&["ridmap"])).map(|m| m.idmap), Ok(Some(true)));
        assert!(parse(&opts(&["rro"])).is_err());
        assert_eq!(
            propagation_flag("rshared"),
            Some(libc::MS_SHARED | libc::MS_REC)
        );
        assert_eq!(propagation_flag("bogus"), None);
    }
}
