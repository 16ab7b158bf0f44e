//! Usage errors with runc's exit codes: help and version exit 0, an
//! unknown command 3 ("No help topic for 'X'", urfave/cli's words), any
//! other usage error 1.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Prints `e` as clap formats it (or runc's line for an unknown command)
/// and returns the exit code.
pub fn usage_error(e: &clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let name = match e.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            eprintln!("berth-runc: No help topic for '{name}'");
            3
        }
        _ => {
            let _ = e.print();
            1
        }
    }
}
