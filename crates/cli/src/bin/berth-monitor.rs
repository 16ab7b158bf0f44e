//! `berth-monitor`: the per-container monitor as a binary of its own.
//!
//! berthd starts one monitor per container and per exec, and each stays
//! up for the process's whole life, so its memory is paid once per
//! container. In the `berth` binary (`berth monitor CONFIG`) every
//! monitor maps the daemon's, the CLI's and the image code's pages; this
//! binary holds only the monitor and the runtime it calls as a library
//! (no tokio, no HTTP, no image store): fewer pages to fault in, fewer
//! relocated pages of its own. berthd uses it when it sits next to
//! berthd's executable, else falls back to `berth monitor`.

use std::ffi::OsString;
use std::path::Path;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1) {
        Some(a) if a == "--version" => {
            println!("berth-monitor {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(cfg) if args.len() == 2 => berth_monitor::main(Path::new(cfg)),
        _ => {
            eprintln!("usage: berth-monitor CONFIG (started by berthd)");
            2
        }
    };
    std::process::exit(code);
}
