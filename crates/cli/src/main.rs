//! The one berth binary. What it does depends on the name it is invoked by:
//! `berth` (the CLI), `berth-runc` (the OCI runtime CLI, same as
//! `berth runtime ...`), or a CNI plugin name (`berth-bridge`,
//! `berth-host-local`, ...), so one install serves every role.

mod client;
mod cni_cmd;
mod commands;

use std::ffi::OsString;
use std::path::Path;

fn invoked_as(argv0: Option<&OsString>) -> String {
    argv0
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "berth".to_owned())
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let name = invoked_as(args.first());
    let code = match name.as_str() {
        "berth" => cli_main(args),
        "berth-runc" => berth_runc::main(args),
        // A binary named berthd may be started as its own monitor.
        "berthd" if args.get(1).is_some_and(|a| a == "monitor") => cli_main(args),
        "berthd" => commands::daemon::main(args),
        plugin if berth_cni::entry::is_plugin_name(plugin) => berth_cni::entry::plugin_main(plugin),
        other => {
            eprintln!("berth: invoked under an unknown name '{other}'");
            2
        }
    };
    std::process::exit(code);
}

/// `berth <group> ...`: each subcommand group lives in its own module.
fn cli_main(args: Vec<OsString>) -> i32 {
    match args.get(1).and_then(|a| a.to_str()) {
        Some("--version") => {
            println!("berth {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("runtime") => berth_runc::main(args[1..].to_vec()),
        Some("daemon") => commands::daemon::main(args[1..].to_vec()),
        // berthd starts each container's monitor as `berth monitor CONFIG`.
        Some("monitor") => match args.get(2) {
            Some(cfg) => berth_monitor::main(std::path::Path::new(cfg)),
            None => {
                eprintln!("usage: berth monitor CONFIG");
                2
            }
        },
        // Image verbs go through the daemon when one answers, else run
        // daemonless on the image store (issue 9), as podman does.
        Some(top)
            if (top == "image" || commands::image::verb_for(top).is_some())
                && commands::docker::daemon_reachable(&args) =>
        {
            commands::docker::main(args)
        }
        Some("image") => commands::image::main(args[1..].to_vec()),
        Some(top) if commands::image::verb_for(top).is_some() => {
            let verb = commands::image::verb_for(top).unwrap_or(top);
            let mut a = vec![OsString::from("image"), OsString::from(verb)];
            a.extend(args[2..].iter().cloned());
            commands::image::main(a)
        }
        Some("cni") => match cni_cmd::main(&args[2..]) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("berth cni: {e:#}");
                1
            }
        },
        // Everything else is a Docker verb, talking to the daemon's API.
        _ => commands::docker::main(args),
    }
}
