//! The two facts of /proc/PID/stat the runtime needs: the process state
//! letter and its start time (which, with the PID, names a process uniquely).

/// State letter and start time of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
    /// PF_EXITING: the process has begun to exit. A PID namespace's init
    /// stays in this state until every process of the namespace is reaped
    /// (by parents that may be outside it); it runs no user code any more.
    pub exiting: bool,
}

/// PF_EXITING in the flags field of /proc/PID/stat.
const PF_EXITING: u64 = 0x4;

/// Reads /proc/PID/stat; `None` if the process does not exist.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse(&text)
}

fn parse(text: &str) -> Option<ProcStat> {
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3): ppid, pgrp, session, tty_nr, tpgid, then
    // flags (field 9); start time is field 22.
    let flags: u64 = fields.nth(5)?.parse().ok()?;
    let start_time = fields.nth(12)?.parse().ok()?;
    Some(ProcStat {
        state,
        start_time,
        exiting: flags & PF_EXITING != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let exiting = "42 (x) S 1 42 42 0 -1 4194564 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert!(parse(exiting).is_some_and(|s| s.exiting));
        assert_eq!(
            parse(line),
            Some(ProcStat {
                state: 'S',
                start_time: 987654,
                exiting: false,
            })
        );
        let me = proc_stat(std::process::id() as i32);
        assert!(me.is_some_and(|s| s.start_time > 0));
    }
}
