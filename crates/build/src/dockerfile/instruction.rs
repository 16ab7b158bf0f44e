//! One logical line to one typed [`Instruction`]: the keyword, its flags
//! (`--from=`, `--chown=`, ...), and its arguments in shell or exec (JSON)
//! form. Variables are not expanded here: their values depend on the
//! instructions before, so the executor expands them step by step.

use super::words::split_raw;
use super::ParseError;

/// A parsed instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Line number of its first line in the Dockerfile.
    pub line: usize,
    /// The instruction as written (continuations joined), for progress
    /// messages ("Step 2/5 : RUN ...") and history.
    pub text: String,
    pub kind: Kind,
}

/// A command in exec form (`["a","b"]`) or shell form (a string run with
/// the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=` stage name, index or image (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    None,
    Check {
        test: Command,
        /// `--interval=`, `--timeout=`, `--start-period=`,
        /// `--start-interval=` in nanoseconds; `--retries=`.
        interval: Option<i64>,
        timeout: Option<i64>,
        start_period: Option<i64>,
        start_interval: Option<i64>,
        retries: Option<i64>,
    },
}

/// What an instruction does; strings are raw (unexpanded) words.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        cmd: Command,
        /// `--network=` (legacy builders take the build's `--network`).
        network: Option<String>,
        /// The first BuildKit-only flag given (`mount`, `security`): the
        /// Dockerfile parses, the step fails when it runs, as in dockerd's
        /// classic builder.
        buildkit_flag: Option<String>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Copy(CopySpec),
    Add(CopySpec),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    Healthcheck(Health),
    Stopsignal(String),
    Shell(Vec<String>),
    /// The trigger as written, e.g. `RUN echo hi` (checked to parse).
    Onbuild(String),
    Maintainer(String),
}

impl Kind {
    /// The keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::From { .. } => "FROM",
            Kind::Run { .. } => "RUN",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Env(_) => "ENV",
            Kind::Arg(_) => "ARG",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::Expose(_) => "EXPOSE",
            Kind::Label(_) => "LABEL",
            Kind::Volume(_) => "VOLUME",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Stopsignal(_) => "STOPSIGNAL",
            Kind::Shell(_) => "SHELL",
            Kind::Onbuild(_) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Parses one logical line.
pub fn parse(line: usize, text: &str, escape: char) -> Result<Instruction, ParseError> {
    let err = |m: String| ParseError::new(line, m);
    let text = text.trim();
    let (word, rest) = match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    };
    let keyword = word.to_ascii_uppercase();
    let known = [
        "FROM",
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "COPY",
        "ADD",
        "ENV",
        "ARG",
        "WORKDIR",
        "USER",
        "EXPOSE",
        "LABEL",
        "VOLUME",
        "HEALTHCHECK",
        "STOPSIGNAL",
        "SHELL",
        "ONBUILD",
        "MAINTAINER",
    ];
    if !known.contains(&keyword.as_str()) {
        return Err(err(format!("unknown instruction: {word}")));
    }
    if rest.is_empty() {
        return Err(err(format!("{keyword} requires at least one argument")));
    }
    let (flags, args) = take_flags(rest);
    let allowed: &[&str] = match keyword.as_str() {
        "FROM" => &["platform"],
        "RUN" => &["network", "mount", "security"],
        "COPY" => &["from", "chown", "chmod"],
        "ADD" => &["chown", "chmod"],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    };
    if !matches!(keyword.as_str(), "ENV" | "LABEL" | "ARG" | "ONBUILD") {
        for (name, _) in &flags {
            if !allowed.contains(&name.as_str()) {
                return Err(err(format!("unknown flag: --{name}")));
            }
        }
    }
    let flag = |n: &str| flags.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    // These take no flags: a leading `--` is part of their arguments.
    let args = if matches!(keyword.as_str(), "ENV" | "LABEL" | "ARG" | "ONBUILD") {
        rest
    } else {
        args
    };
    let kind = match keyword.as_str() {
        "FROM" => {
            let w = split_raw(args, escape);
            match w.as_slice() {
                [image] => Kind::From {
                    image: image.clone(),
                    name: None,
                    platform: flag("platform"),
                },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                    if !ok {
                        return Err(err(format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols")));
                    }
                    Kind::From {
                        image: image.clone(),
                        name: Some(name.to_ascii_lowercase()),
                        platform: flag("platform"),
                    }
                }
                _ => {
                    return Err(err(
                        "FROM requires either one or three arguments (FROM IMAGE [AS NAME])".into(),
                    ))
                }
            }
        }
        "RUN" => Kind::Run {
            cmd: command(args),
            network: flag("network"),
            buildkit_flag: flags
                .iter()
                .map(|(k, _)| k)
                .find(|k| matches!(k.as_str(), "mount" | "security"))
                .cloned(),
        },
        "CMD" => Kind::Cmd(command(args)),
        "ENTRYPOINT" => Kind::Entrypoint(command(args)),
        "COPY" | "ADD" => {
            let mut list = match json_array(args) {
                Some(l) => l,
                None => split_raw(args, escape),
            };
            if list.len() < 2 {
                return Err(err(format!("{keyword} requires at least two arguments")));
            }
            let dest = list.pop().unwrap_or_default();
            let spec = CopySpec {
                sources: list,
                dest,
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
            };
            if let Some(m) = &spec.chmod {
                if u32::from_str_radix(m, 8).map_or(true, |v| v > 0o7777) {
                    return Err(err(format!(
                        "invalid chmod value {m:?}: expected octal mode"
                    )));
                }
            }
            if keyword == "COPY" {
                Kind::Copy(spec)
            } else {
                Kind::Add(spec)
            }
        }
        "ENV" | "LABEL" => {
            let pairs = key_values(args, escape, keyword == "ENV").map_err(err)?;
            if keyword == "ENV" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "ARG" => {
            let mut out = Vec::new();
            for w in split_raw(args, escape) {
                let (k, v) = match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                };
                if !valid_name(&k) {
                    return Err(err(format!("invalid ARG name {k:?}")));
                }
                out.push((k, v));
            }
            Kind::Arg(out)
        }
        "WORKDIR" => Kind::Workdir(args.to_string()),
        "USER" => Kind::User(args.to_string()),
        "EXPOSE" => Kind::Expose(split_raw(args, escape)),
        "VOLUME" => Kind::Volume(match json_array(args) {
            Some(l) => l,
            None => split_raw(args, escape),
        }),
        "STOPSIGNAL" => Kind::Stopsignal(args.to_string()),
        "MAINTAINER" => Kind::Maintainer(args.to_string()),
        "SHELL" => match json_array(args) {
            Some(l) if !l.is_empty() => Kind::Shell(l),
            _ => {
                return Err(err(
                    "SHELL requires the arguments to be in JSON form".to_string()
                ))
            }
        },
        "HEALTHCHECK" => Kind::Healthcheck(health(args, &flags).map_err(err)?),
        "ONBUILD" => {
            let (w, _) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match w.to_ascii_uppercase().as_str() {
                "ONBUILD" => {
                    return Err(err(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()
                    ))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(format!("{w} isn't allowed as an ONBUILD trigger")))
                }
                _ => {}
            }
            parse(line, rest, escape)?;
            Kind::Onbuild(rest.to_string())
        }
        _ => return Err(err(format!("unknown instruction: {word}"))),
    };
    Ok(Instruction {
        line,
        text: format!("{keyword} {rest}"),
        kind,
    })
}

/// Leading `--name=value` flags and what follows them.
fn take_flags(s: &str) -> (Vec<(String, String)>, &str) {
    let mut flags = Vec::new();
    let mut rest = s.trim_start();
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (name, value) = match f[..end].split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (f[..end].to_string(), String::new()),
        };
        flags.push((name.to_ascii_lowercase(), value));
        rest = f[end..].trim_start();
    }
    (flags, rest)
}

/// Exec form when the arguments are a JSON array of strings.
fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

fn command(s: &str) -> Command {
    match json_array(s) {
        Some(l) => Command::Exec(l),
        None => Command::Shell(s.to_string()),
    }
}

fn valid_name(k: &str) -> bool {
    !k.is_empty() && !k.contains(char::is_whitespace) && !k.contains('=')
}

/// `KEY=VALUE ...` pairs, or the old `KEY VALUE` form (ENV only: the rest
/// of the line is the value).
fn key_values(s: &str, escape: char, env: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_raw(s, escape);
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (k, v) = s
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .unwrap_or((s, ""));
        if v.is_empty() {
            let what = if env { "ENV" } else { "LABEL" };
            return Err(format!("{what} names can not be blank, or needs a value ({what} {k} VALUE or {what} {k}=VALUE)"));
        }
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(format!(
                    "syntax error - can't find = in {w:?}. Must be of the form: name=value"
                ))
            }
        }
    }
    Ok(out)
}

fn health(args: &str, flags: &[(String, String)]) -> Result<Health, String> {
    let (word, rest) = args
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((args, ""));
    match word.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() || !flags.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Health::None)
        }
        "CMD" => {
            if rest.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            let dur = |n: &str| -> Result<Option<i64>, String> {
                match flags.iter().find(|(k, _)| k == n) {
                    None => Ok(None),
                    Some((_, v)) => duration_ns(v)
                        .map(Some)
                        .ok_or_else(|| format!("invalid --{n} duration {v:?}")),
                }
            };
            let retries = match flags.iter().find(|(k, _)| k == "retries") {
                None => None,
                Some((_, v)) => Some(
                    v.parse::<i64>()
                        .ok()
                        .filter(|r| *r >= 0)
                        .ok_or_else(|| format!("invalid --retries value {v:?}"))?,
                ),
            };
            Ok(Health::Check {
                test: command(rest),
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            })
        }
        _ => Err(format!("Unknown type {word:?} in HEALTHCHECK (try CMD)")),
    }
}

/// Go duration text (`30s`, `1m30s`, `500ms`, `1h`) in nanoseconds.
pub fn duration_ns(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Kind, ParseError> {
        parse(1, s, '\\').map(|i| i.kind)
    }

    #[test]
    fn forms_of_commands() -> Result<(), ParseError> {
        assert_eq!(
            p(r#"RUN ["echo", "a b"]"#)?,
            Kind::Run {
                cmd: Command::Exec(vec!["echo".into(), "a b".into()]),
                network: None,
                buildkit_flag: None
            }
        );
        assert_eq!(
            p("run --network=host echo hi")?,
            Kind::Run {
                cmd: Command::Shell("echo hi".into()),
                network: Some("host".into()),
                buildkit_flag: None
            }
        );
        // BuildKit's flags parse (the step refuses them when it runs).
        assert_eq!(
            p("RUN --mount=type=cache,target=/x echo hi")?,
            Kind::Run {
                cmd: Command::Shell("echo hi".into()),
                network: None,
                buildkit_flag: Some("mount".into())
            }
        );
        // Not valid JSON: shell form, as docker does.
        assert_eq!(p("CMD [oops")?, Kind::Cmd(Command::Shell("[oops".into())));
        Ok(())
    }

    #[test]
    fn copy_flags_and_sources() -> Result<(), ParseError> {
        assert_eq!(
            p("COPY --from=build --chown=1:2 --chmod=640 a b /dst/")?,
            Kind::Copy(CopySpec {
                sources: vec!["a".into(), "b".into()],
                dest: "/dst/".into(),
                from: Some("build".into()),
                chown: Some("1:2".into()),
                chmod: Some("640".into()),
            })
        );
        assert!(p("COPY --chmod=999 a b").is_err());
        assert!(p("ADD --from=x a b").is_err());
        assert!(p("COPY onlyone").is_err());
        Ok(())
    }

    #[test]
    fn env_label_arg_forms() -> Result<(), ParseError> {
        assert_eq!(
            p("ENV A=1 B=\"two words\"")?,
            Kind::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into())
            ])
        );
        assert_eq!(
            p("ENV OLD the rest of it")?,
            Kind::Env(vec![("OLD".into(), "the rest of it".into())])
        );
        assert_eq!(
            p("ARG V=1 W")?,
            Kind::Arg(vec![("V".into(), Some("1".into())), ("W".into(), None)])
        );
        assert!(p("ENV ONLY").is_err());
        assert!(p("LABEL a=1 b").is_err());
        Ok(())
    }

    #[test]
    fn from_stage_names_and_others() -> Result<(), ParseError> {
        assert_eq!(
            p("FROM busybox AS Build")?,
            Kind::From {
                image: "busybox".into(),
                name: Some("build".into()),
                platform: None
            }
        );
        assert!(p("FROM a AS 1x").is_err());
        assert!(p("FROM a b").is_err());
        assert!(p("SHELL /bin/sh").is_err());
        assert!(p("ONBUILD ONBUILD RUN x").is_err());
        assert!(p("ONBUILD FROM x").is_err());
        assert_eq!(p("ONBUILD RUN echo")?, Kind::Onbuild("RUN echo".into()));
        assert!(matches!(p("FOO bar"), Err(e) if e.message.contains("unknown instruction")));
        Ok(())
    }

    #[test]
    fn healthcheck_flags() -> Result<(), ParseError> {
        assert_eq!(
            p("HEALTHCHECK --interval=5s --retries=3 CMD true")?,
            Kind::Healthcheck(Health::Check {
                test: Command::Shell("true".into()),
                interval: Some(5_000_000_000),
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some(3),
            })
        );
        assert_eq!(p("HEALTHCHECK NONE")?, Kind::Healthcheck(Health::None));
        assert!(p("HEALTHCHECK --interval=5x CMD true").is_err());
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        Ok(())
    }
}
