//! The plain command lines of the hot verbs (`create`, `start`, `run`,
//! `state`, `kill`, `delete`), parsed without clap.
//!
//! Why: building clap's command tree for this CLI and parsing with it costs
//! ~0.3 ms per invocation (mostly first-touch page faults in clap's code),
//! a noticeable share of a container start, paid by every call an engine
//! makes. Engines call these verbs with plain flags, which this parser
//! takes. Anything else — help, version, an unknown or repeated flag,
//! bundled short flags, `--`, a value or id that starts with `-`, a number
//! that does not parse — returns `None`, and clap parses the whole line, so
//! help and every error message still come from clap alone. A test checks
//! that for each line accepted here clap builds the same [`Cli`].

use std::ffi::OsString;
use std::path::PathBuf;

use super::{create, delete, kill, run, start, state, Cli, LogFormat, Verb};

/// Flags seen so far (a repeated one is left to clap, which refuses it).
#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Seen {
    fn first(&mut self, name: &'static str) -> Option<()> {
        if self.0.contains(&name) {
            return None;
        }
        self.0.push(name);
        Some(())
    }
}

/// A flag's value or a positional: the next word, which must be neither
/// empty (clap refuses an empty path) nor look like a flag.
fn value<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<&'a str> {
    words
        .next()
        .filter(|v| !v.is_empty() && !v.starts_with('-'))
}

/// The container id: the one remaining word, not flag-like.
fn id_only<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<String> {
    let id = value(words)?;
    words.next().is_none().then(|| id.to_owned())
}

/// `create`'s flags (also `run`'s); `extra` takes the verb's own flags.
fn create_args<'a>(
    words: &mut impl Iterator<Item = &'a str>,
    mut extra: impl FnMut(&str, &mut Seen) -> Option<()>,
) -> Option<create::Args> {
    let mut a = create::Args {
        bundle: PathBuf::from("."),
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
        no_pivot: false,
        no_new_keyring: false,
        id: String::new(),
    };
    let mut seen = Seen::default();
    let mut id = None;
    while let Some(w) = words.next() {
        match w {
            "-b" | "--bundle" => {
                seen.first("bundle")?;
                a.bundle = PathBuf::from(value(words)?);
            }
            "--pid-file" => {
                seen.first("pid-file")?;
                a.pid_file = Some(PathBuf::from(value(words)?));
            }
            "--console-socket" => {
                seen.first("console-socket")?;
                a.console_socket = Some(PathBuf::from(value(words)?));
            }
            "--preserve-fds" => {
                seen.first("preserve-fds")?;
                a.preserve_fds = value(words)?.parse().ok()?;
            }
            "--no-pivot" => {
                seen.first("no-pivot")?;
                a.no_pivot = true;
            }
            "--no-new-keyring" => {
                seen.first("no-new-keyring")?;
                a.no_new_keyring = true;
            }
            flag if flag.starts_with('-') => extra(flag, &mut seen)?,
            word if id.is_none() && !word.is_empty() => id = Some(word.to_owned()),
            _ => return None,
        }
    }
    a.id = id?;
    Some(a)
}

fn verb<'a>(name: &str, words: &mut impl Iterator<Item = &'a str>) -> Option<Verb> {
    Some(match name {
        "create" => Verb::Create(create_args(words, |_, _| None)?),
        "run" => {
            let (mut detach, mut keep) = (false, false);
            let create = create_args(words, |flag, seen| {
                match flag {
                    "-d" | "--detach" => {
                        seen.first("detach")?;
                        detach = true;
                    }
                    "--keep" => {
                        seen.first("keep")?;
                        keep = true;
                    }
                    _ => return None,
                }
                Some(())
            })?;
            Verb::Run(run::Args {
                create,
                detach,
                keep,
            })
        }
        "start" => Verb::Start(start::Args {
            id: id_only(words)?,
        }),
        "state" => Verb::State(state::Args {
            id: id_only(words)?,
        }),
        "delete" => {
            let mut force = false;
            let mut rest = Vec::new();
            for w in words {
                match w {
                    "-f" | "--force" if !force => force = true,
                    w => rest.push(w),
                }
            }
            Verb::Delete(delete::Args {
                force,
                id: id_only(&mut rest.into_iter())?,
            })
        }
        "kill" => {
            let mut all = false;
            let mut rest = Vec::new();
            for w in words {
                match w {
                    "-a" | "--all" if !all => all = true,
                    w if w.is_empty() || w.starts_with('-') => return None,
                    w => rest.push(w),
                }
            }
            let mut rest = rest.into_iter();
            let id = rest.next()?.to_owned();
            let signal = rest.next().unwrap_or("SIGTERM").to_owned();
            if rest.next().is_some() {
                return None;
            }
            Verb::Kill(kill::Args { all, id, signal })
        }
        _ => return None,
    })
}

/// Parses `args` (program name first) if it is a plain line of a hot verb.
pub(super) fn parse(args: &[OsString]) -> Option<Cli> {
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let mut words = words.into_iter();
    let mut root = PathBuf::from(super::DEFAULT_ROOT);
    let mut log = None;
    let mut log_format = LogFormat::Text;
    let (mut debug, mut systemd_cgroup) = (false, false);
    let mut rootless = None;
    let mut seen = Seen::default();
    // Global flags come before the verb here (as containerd writes them).
    loop {
        match words.next()? {
            "--root" => {
                seen.first("root")?;
                root = PathBuf::from(value(&mut words)?);
            }
            "--log" => {
                seen.first("log")?;
                log = Some(PathBuf::from(value(&mut words)?));
            }
            "--log-format" => {
                seen.first("log-format")?;
                log_format = match value(&mut words)? {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return None,
                };
            }
            "--debug" => {
                seen.first("debug")?;
                debug = true;
            }
            "--systemd-cgroup" => {
                seen.first("systemd-cgroup")?;
                systemd_cgroup = true;
            }
            "--rootless" => {
                seen.first("rootless")?;
                rootless = Some(value(&mut words)?.to_owned());
            }
            name => {
                return Some(Cli {
                    root,
                    log,
                    log_format,
                    debug,
                    systemd_cgroup,
                    rootless,
                    criu: None,
                    verb: verb(name, &mut words)?,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// Every line the fast path takes must give exactly clap's result.
    #[test]
    fn accepted_lines_match_clap() {
        let accepted = [
            "berth-runc run --bundle /b c1",
            "berth-runc --root /r run -b /b -d --keep --pid-file /p c1",
            "runtime --root /r --log /l.json --log-format json create --bundle /b --pid-file /p --console-socket /s --preserve-fds 2 --no-pivot --no-new-keyring c1",
            "berth-runc --debug --systemd-cgroup --rootless false create c1",
            "berth-runc create c1 --bundle /b",
            "berth-runc run c1 --detach",
            "berth-runc --log-format text start c1",
            "berth-runc state c1",
            "berth-runc delete -f c1",
            "berth-runc delete c1 --force",
            "berth-runc delete c1",
            "berth-runc kill c1",
            "berth-runc kill -a c1 KILL",
            "berth-runc kill c1 9 --all",
        ];
        for line in accepted {
            let fast = parse(&argv(line)).unwrap_or_else(|| panic!("not taken: {line}"));
            let slow = Cli::try_parse_from(argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{line}");
        }
    }

    /// Lines outside the plain shape go to clap (help, errors, odd forms).
    #[test]
    fn other_lines_are_left_to_clap() {
        for line in [
            "berth-runc",
            "berth-runc --help",
            "berth-runc run --help",
            "berth-runc --version",
            "berth-runc list",
            "berth-runc exec c1 sh",
            "berth-runc run",
            "berth-runc run c1 c2",
            "berth-runc run --bundle=/b c1",
            "berth-runc run -db /b c1",
            "berth-runc run --bundle /b --bundle /c c1",
            "berth-runc --root /a --root /b state c1",
            "berth-runc run --preserve-fds x c1",
            "berth-runc run --bogus c1",
            "berth-runc run -- c1",
            "berth-runc --log-format xml state c1",
            "berth-runc start -c1",
            "berth-runc delete -f -f c1",
            "berth-runc kill c1 KILL extra",
            "berth-runc kill -s c1",
            "berth-runc state --root /r c1",
        ] {
            assert!(parse(&argv(line)).is_none(), "taken: {line}");
        }
    }
}
