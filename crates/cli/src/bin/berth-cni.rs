//! `berth-cni`: berth's CNI plugins as a binary of their own.
//!
//! A CNI runtime starts a new plugin process for every ADD, CHECK and
//! DEL, so the plugin's start is most of an attach that changes no
//! firewall state. This binary holds only the plugins (the module is
//! shared with the `berth` binary, which also answers to the plugin
//! names): a third of the size, fewer pages to fault in and relocate at
//! every start. Like `berth`, it picks the plugin by the name it is
//! invoked under (`berth-bridge -> berth-cni`, ...).

#[path = "../cni_plugin.rs"]
mod cni_plugin;

fn main() {
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let code = if cni_plugin::is_plugin_name(&name) {
        cni_plugin::plugin_main(&name)
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
