//! `berth-cni`: berth's CNI plugins as a binary of their own.
//!
//! A CNI runtime starts a new plugin process for every ADD, CHECK and
//! DEL, so the plugin's start is most of an attach that changes no
//! firewall state. This binary is built from this crate alone (not the
//! `berth` package): a fraction of berth's size, and a dependency tree
//! without C code, so it also builds for x86_64-unknown-linux-musl, a
//! static binary whose start does no dynamic loading and none of glibc's
//! CPUID probing (each CPUID traps to the hypervisor on a VM; see
//! docs/architecture.md). Like `berth`, it picks the plugin by the name it
//! is invoked under (`berth-bridge -> berth-cni`, ...).

fn main() {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let code = if berth_cni::entry::is_plugin_name(&name) {
        berth_cni::entry::plugin_main(&name)
    } else {
        eprintln!(
            "berth-cni: invoked as '{name}'; run it under a plugin's name \
             (berth-bridge, berth-macvlan, berth-ipvlan, berth-host-local, \
             berth-loopback, berth-portmap), e.g. through a symlink"
        );
        2
    };
    std::process::exit(code);
}
