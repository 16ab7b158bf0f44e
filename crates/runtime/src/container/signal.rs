//! Signal names and numbers as `kill` accepts them (`KILL`, `SIGKILL`, `9`).

/// (name without SIG, number).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal name or number (0 included: it checks that the
/// process exists, as kill(2)); None if unknown.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (0..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n: i32 = off.parse().ok()?;
        let sig = libc::SIGRTMIN() + n;
        return (sig <= libc::SIGRTMAX()).then_some(sig);
    }
    if name == "RTMIN" {
        return Some(libc::SIGRTMIN());
    }
    if name == "RTMAX" {
        return Some(libc::SIGRTMAX());
    }
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("SIGTERM"), Some(15));
        assert_eq!(parse("sigusr1"), Some(libc::SIGUSR1));
        assert_eq!(parse("9"), Some(9));
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("65"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("RTMIN+1"), Some(libc::SIGRTMIN() + 1));
    }
}
