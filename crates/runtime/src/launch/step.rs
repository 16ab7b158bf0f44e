//! Numbered steps of the child's setup: an error from the child is a step,
//! an index (which mount, which namespace...) and an errno, turned into a
//! sentence by the parent, which still has the config at hand.

pub const SETNS: u32 = 1;
pub const UNSHARE_USER: u32 = 2;
pub const UNSHARE: u32 = 3;
pub const FORK: u32 = 4;
pub const TIME_OFFSETS: u32 = 5;
pub const PROTOCOL: u32 = 6;
pub const UNSHARE_CGROUP: u32 = 7;
pub const SETSID: u32 = 8;
pub const SETHOSTNAME: u32 = 10;
pub const SETDOMAINNAME: u32 = 11;
pub const ROOT_PROPAGATION: u32 = 12;
pub const ROOTFS_BIND: u32 = 13;
pub const OPEN_ROOTFS: u32 = 14;
pub const MOUNT_TARGET: u32 = 15;
pub const MOUNT: u32 = 16;
pub const MOUNT_REMOUNT: u32 = 17;
pub const MOUNT_PROPAGATION: u32 = 18;
pub const SYMLINK: u32 = 19;
pub const DEVICE: u32 = 20;
pub const PIVOT_ROOT: u32 = 21;
pub const MASK: u32 = 22;
pub const READONLY_PATH: u32 = 23;
pub const SYSCTL: u32 = 24;
pub const ROOT_READONLY: u32 = 25;
pub const HOOK_CREATE_CONTAINER: u32 = 26;
pub const CONSOLE: u32 = 27;
pub const EXEC_LOOKUP: u32 = 28;
pub const FIFO: u32 = 29;
pub const HOOK_START_CONTAINER: u32 = 30;
pub const RLIMIT: u32 = 31;
pub const SECCOMP: u32 = 32;
pub const CAP_BOUNDING: u32 = 33;
pub const SETGROUPS: u32 = 34;
pub const SETGID: u32 = 35;
pub const SETUID: u32 = 36;
pub const CAPSET: u32 = 37;
pub const CHDIR: u32 = 38;
pub const NO_NEW_PRIVS: u32 = 39;
pub const EXECVE: u32 = 40;
pub const CLOSE_FDS: u32 = 41;
pub const DEV_CONSOLE: u32 = 42;
pub const PERSONALITY: u32 = 43;
pub const IOPRIO: u32 = 44;
pub const CGROUP_JOIN: u32 = 45;
