//! Crash points for the fault tests: with `BERTH_CRASH_AT=<point>` in
//! berthd's environment, berthd SIGKILLs itself when it reaches that
//! point, as a `kill -9` at that moment would. Unset, a point costs one
//! cached environment lookup.
//!
//! Points: `create:rootfs-made` (the rootfs exists, no record yet),
//! `remove:marked` (the record says removing, nothing removed),
//! `remove:rootfs-gone` (rootfs and files gone, the record not),
//! `attach:endpoint-made` (a network attach of start done: veth, lease,
//! published ports; the endpoint not recorded).

use std::sync::OnceLock;

pub(crate) fn crash_point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT
        .get_or_init(|| std::env::var("BERTH_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        tracing::warn!("BERTH_CRASH_AT={name}: killing berthd");
        // SAFETY: kill(2) of this very process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
