//! `-v` / `--version`: runc's lines in runc's shape, with berth's values
//! (`go:` becomes `rust:`; berth has no libseccomp, so that line names the
//! seccomp filter compiler it uses).

/// Is the first word after the global flags `-v` or `--version`?
pub fn asked(args: &[std::ffi::OsString]) -> bool {
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(w) = words.next() {
        match w {
            "-v" | "--version" => return true,
            "--root" | "--log" | "--log-format" | "--rootless" | "--criu" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            _ => return false,
        }
    }
    false
}

/// The version lines (runc: version, commit when known, spec, go,
/// libseccomp).
pub fn lines() -> Vec<String> {
    let mut out = vec![format!("berth-runc version {}", env!("CARGO_PKG_VERSION"))];
    if let Some(c) = option_env!("BERTH_COMMIT").filter(|c| !c.is_empty()) {
        out.push(format!("commit: {c}"));
    }
    out.push(format!("spec: {}", berth_runtime::OCI_VERSION));
    out.push(format!("rust: {}", env!("BERTH_RUSTC_VERSION")));
    out.push(format!(
        "seccomp: seccompiler {} (no libseccomp)",
        env!("BERTH_SECCOMPILER_VERSION")
    ));
    out
}

pub fn print() {
    for l in lines() {
        println!("{l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_asked_before_the_verb_only() {
        let v = |s: &str| {
            s.split(' ')
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        assert!(asked(&v("berth-runc --version")));
        assert!(asked(&v("berth-runc --root /r -v")));
        assert!(!asked(&v("berth-runc exec c1 -v")));
        assert!(!asked(&v("berth-runc state c1")));
        let l = lines();
        assert!(l[0].starts_with("berth-runc version "));
        assert!(l.iter().any(|l| l.starts_with("spec: 1.")));
        assert!(l.iter().any(|l| l.starts_with("rust: rustc ")));
    }
}
