//! The monitor's life: prepare the process, report ready, serve the
//! attach socket and the process's output until it exits, record the exit.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_runtime::{Driver, ExecOptions};

use crate::config::{Job, LogConfig, MonitorConfig};
use crate::exit::ExitRecord;
use crate::helper;
use crate::log::JsonFileLog;
use crate::protocol::{frame_header, Request, STDERR, STDOUT};
use crate::resident;
use crate::stdio::{self, Ours};

/// How long output may still arrive after the process exited (children
/// that inherited its stdio may keep it open).
const DRAIN: Duration = Duration::from_secs(2);
/// Bytes read at once from the process's output or a client.
const IO_BUF: usize = 32 * 1024;

struct Client {
    sock: UnixStream,
    header: Vec<u8>,
    req: Option<Request>,
    /// The client closed its sending side.
    input_done: bool,
}

struct Monitor {
    cfg: MonitorConfig,
    rt: Driver,
    listener: UnixListener,
    sigfd: OwnedFd,
    ours: Ours,
    master: Option<File>,
    log: Option<JsonFileLog>,
    clients: Vec<Client>,
    target: Option<i32>,
    exit_code: Option<i32>,
    exited_at: Option<Instant>,
    start_error: Option<String>,
    /// The read buffer, allocated at the first read: a buffer on the
    /// stack would be touched whole (stack probes) by every frame that
    /// holds it, and stay resident in an idle monitor.
    buf: Vec<u8>,
    /// A start just finished: release its memory once this round of
    /// events is handled.
    settle: bool,
}

fn signalfd_for_sigchld() -> std::io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls
    // take valid pointers; signalfd returns a new descriptor we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// `berth monitor CONFIG`: returns the process exit code of the monitor.
pub fn main(config_path: &Path) -> i32 {
    // The sync pipe to berthd is our stdout until we report ready: keep a
    // copy, as stdio is lent to the container while it is created.
    // SAFETY: dup of our own stdout.
    let sync_fd = unsafe { libc::dup(1) };
    let mut sync = (sync_fd >= 0).then(|| {
        // SAFETY: dup just returned this descriptor, owned by nobody else.
        unsafe { File::from_raw_fd(sync_fd) }
    });
    let mut report = |line: &str| {
        if let Some(mut s) = sync.take() {
            let _ = s.write_all(line.as_bytes());
        }
    };
    let cfg: MonitorConfig = match std::fs::read(config_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            report(&format!("err reading monitor config: {e}\n"));
            return 1;
        }
    };
    match Monitor::prepare(cfg) {
        Ok(mut m) => {
            report("ready\n");
            release_setup_memory();
            m.serve();
            0
        }
        Err(e) => {
            report(&format!("err {}\n", e.replace('\n', " ")));
            1
        }
    }
}

impl Monitor {
    fn prepare(cfg: MonitorConfig) -> Result<Monitor, String> {
        // SAFETY: setsid and prctl with integer arguments; signal() with
        // SIG_IGN for signals a detached supervisor must survive.
        unsafe {
            libc::setsid();
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
        let _ = std::fs::write(cfg.pid_path(), std::process::id().to_string());
        let sigfd = signalfd_for_sigchld().map_err(|e| format!("signalfd: {e}"))?;
        let rt = cfg.driver();
        let log = match &cfg.log {
            LogConfig::JsonFile {
                path,
                max_size,
                max_file,
            } if matches!(cfg.job, Job::Container { .. }) => Some(
                JsonFileLog::open(path, *max_size, *max_file)
                    .map_err(|e| format!("opening log {}: {e}", path.display()))?,
            ),
            _ => None,
        };
        let mut m = Monitor {
            listener: bind(&cfg.attach_socket())?,
            cfg,
            rt,
            sigfd,
            ours: Ours {
                stdin: None,
                stdout: None,
                stderr: None,
            },
            master: None,
            log,
            clients: Vec::new(),
            target: None,
            exit_code: None,
            exited_at: None,
            start_error: None,
            buf: Vec::new(),
            settle: false,
        };
        if let Job::Container { bundle } = m.cfg.job.clone() {
            if let Err(e) = m.create_container(&bundle) {
                let _ = std::fs::remove_file(m.cfg.attach_socket());
                return Err(e);
            }
        }
        Ok(m)
    }

    /// The console socket and stdio for a new process; `f` creates it.
    /// The runtime's work runs in a forked helper (see [`helper`]); `f`
    /// returns the PID of the process it started (0: look it up later).
    fn launch(
        &mut self,
        f: impl FnOnce(&Driver, Option<std::path::PathBuf>) -> Result<i32, String>,
    ) -> Result<i32, String> {
        let console_path = self.cfg.state_dir.join("console.sock");
        let (theirs, console) = if self.cfg.tty {
            let l = stdio::console_listener(&console_path)
                .map_err(|e| format!("console socket: {e}"))?;
            (stdio::terminal(), Some(l))
        } else {
            let (ours, theirs) =
                stdio::pipes(self.cfg.open_stdin).map_err(|e| format!("pipes: {e}"))?;
            self.ours = ours;
            (theirs, None)
        };
        let rt = self.rt.clone();
        let socket = console.as_ref().map(|_| console_path.clone());
        let out = helper::run(|| {
            stdio::with_stdio(theirs, || f(&rt, socket)).map_err(|e| format!("stdio: {e}"))?
        });
        stdio::null_stdio().map_err(|e| format!("stdio: {e}"))?;
        let out = out?;
        if let Some(l) = console {
            let master = stdio::receive_master(&l).map_err(|e| format!("pty master: {e}"))?;
            let _ = std::fs::remove_file(&console_path);
            let input = master.try_clone().map_err(|e| format!("pty: {e}"))?;
            let output = master.try_clone().map_err(|e| format!("pty: {e}"))?;
            self.ours = Ours {
                stdin: Some(input),
                stdout: Some(output),
                stderr: None,
            };
            self.master = Some(master);
        }
        Ok(out)
    }

    fn create_container(&mut self, bundle: &Path) -> Result<(), String> {
        let id = self.cfg.id.clone();
        let bundle = bundle.to_path_buf();
        let pid = self.launch(|rt, console_socket| {
            rt.create(&id, &bundle, console_socket.as_deref())
                .map_err(|e| e.to_string())
        })?;
        self.target = Some(pid);
        Ok(())
    }

    fn start(&mut self) -> Result<i32, String> {
        match self.cfg.job.clone() {
            Job::Container { .. } => {
                let (rt, id) = (&self.rt, &self.cfg.id);
                helper::run(|| rt.start(id).map(|()| 0).map_err(|e| e.to_string()))?;
                self.target
                    .ok_or_else(|| "container has no init".to_owned())
            }
            Job::Exec {
                args,
                env,
                cwd,
                user,
                additional_gids,
            } => {
                let id = self.cfg.id.clone();
                let tty = self.cfg.tty;
                let pid = self.launch(|rt, console_socket| {
                    rt.exec(&ExecOptions {
                        id,
                        args,
                        env,
                        cwd,
                        user,
                        additional_gids,
                        tty,
                        console_socket,
                        detach: true,
                        ..ExecOptions::default()
                    })
                    .map_err(|e| e.to_string())
                })?;
                self.target = Some(pid);
                Ok(pid)
            }
        }
    }

    fn serve(&mut self) {
        loop {
            if let Some(at) = self.exited_at {
                let outputs_done = self.ours.stdout.is_none() && self.ours.stderr.is_none();
                if outputs_done || at.elapsed() >= DRAIN {
                    break;
                }
            }
            let mut fds = vec![
                pollfd(self.listener.as_raw_fd(), libc::POLLIN),
                pollfd(self.sigfd.as_raw_fd(), libc::POLLIN),
                pollfd(fd_or(&self.ours.stdout), libc::POLLIN),
                pollfd(fd_or(&self.ours.stderr), libc::POLLIN),
            ];
            for c in &self.clients {
                let ev = if c.input_done { 0 } else { libc::POLLIN };
                fds.push(pollfd(c.sock.as_raw_fd(), ev));
            }
            let timeout = match self.exited_at {
                Some(at) => DRAIN.saturating_sub(at.elapsed()).as_millis() as i32 + 1,
                None => -1,
            };
            // SAFETY: fds is a valid array of pollfds of its length.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if r < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(1) {
                self.reap();
            }
            if ready(2) {
                self.output(0);
            }
            if ready(3) {
                self.output(1);
            }
            // Clients last, from the end, so removal keeps indices valid.
            for i in (0..self.clients.len()).rev() {
                let rev = fds[4 + i].revents;
                if rev != 0 {
                    self.client_event(i, rev);
                }
            }
            if ready(0) {
                self.accept();
            }
            if std::mem::take(&mut self.settle) {
                self.buf = Vec::new();
                release_setup_memory();
            }
            if self.exit_code.is_none() && self.target.is_none() && self.start_error.is_some() {
                break;
            }
        }
        self.finish();
    }

    fn reap(&mut self) {
        let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        // SAFETY: draining the signalfd into a buffer of its record size.
        while unsafe { libc::read(self.sigfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
        {
        }
        loop {
            let mut status = 0;
            // SAFETY: non-blocking waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
            if pid <= 0 {
                break;
            }
            if Some(pid) == self.target && self.exit_code.is_none() {
                self.exit_code = Some(berth_runtime::launch::exit_code(status));
                self.exited_at = Some(Instant::now());
            }
        }
    }

    /// The read buffer, taken out of `self` (put it back with
    /// [`Monitor::put_buf`]).
    fn take_buf(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(IO_BUF, 0);
        buf
    }

    fn put_buf(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    fn output(&mut self, which: usize) {
        let mut buf = self.take_buf();
        self.output_with(which, &mut buf);
        self.put_buf(buf);
    }

    fn output_with(&mut self, which: usize, buf: &mut [u8]) {
        let slot = if which == 0 {
            &mut self.ours.stdout
        } else {
            &mut self.ours.stderr
        };
        let Some(f) = slot.as_mut() else { return };
        let n = match f.read(buf) {
            Ok(0) | Err(_) => {
                // EOF, or EIO from a pty whose last slave closed.
                *slot = None;
                return;
            }
            Ok(n) => n,
        };
        let data = &buf[..n];
        if let Some(log) = self.log.as_mut() {
            if let Err(e) = log.write(which, data) {
                eprintln!("berth-monitor: writing log: {e}");
            }
        }
        let stream = if which == 0 { STDOUT } else { STDERR };
        let header = frame_header(stream, n);
        self.clients.retain_mut(|c| {
            let wants = match c.req {
                Some(Request::Attach { stdout, stderr, .. }) => {
                    (which == 0 && stdout) || (which == 1 && stderr)
                }
                _ => false,
            };
            if !wants {
                return true;
            }
            c.sock.write_all(&header).is_ok() && c.sock.write_all(data).is_ok()
        });
    }

    fn accept(&mut self) {
        while let Ok((sock, _)) = self.listener.accept() {
            let _ = sock.set_nonblocking(false);
            let _ = sock.set_write_timeout(Some(Duration::from_secs(30)));
            self.clients.push(Client {
                sock,
                header: Vec::new(),
                req: None,
                input_done: false,
            });
        }
    }

    fn client_event(&mut self, i: usize, revents: i16) {
        if revents & libc::POLLIN == 0 {
            // POLLHUP/POLLERR without data: the client is gone.
            self.clients.remove(i);
            return;
        }
        let mut buf = self.take_buf();
        self.client_event_with(i, &mut buf);
        self.put_buf(buf);
    }

    fn client_event_with(&mut self, i: usize, buf: &mut [u8]) {
        let n = match self.clients[i].sock.read(buf) {
            Ok(n) => n,
            Err(_) => {
                self.clients.remove(i);
                return;
            }
        };
        if n == 0 {
            self.input_closed(i);
            return;
        }
        let mut data = &buf[..n];
        if self.clients[i].req.is_none() {
            let c = &mut self.clients[i];
            let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                c.header.extend_from_slice(data);
                if c.header.len() > 256 {
                    self.clients.remove(i);
                }
                return;
            };
            c.header.extend_from_slice(&data[..nl]);
            data = &data[nl + 1..];
            let line = String::from_utf8_lossy(&c.header).into_owned();
            match Request::parse(&line) {
                Some(r) => c.req = Some(r),
                None => {
                    let _ = c.sock.write_all(b"err unknown request\n");
                    self.clients.remove(i);
                    return;
                }
            }
            if !self.handle_request(i) {
                return;
            }
        }
        if !data.is_empty() {
            if let Some(Request::Attach { stdin: true, .. }) = self.clients[i].req {
                if let Some(input) = self.ours.stdin.as_mut() {
                    if input.write_all(data).is_err() {
                        self.ours.stdin = None;
                    }
                }
            }
        }
    }

    /// Acts on a client's request; false when the client was removed.
    fn handle_request(&mut self, i: usize) -> bool {
        match self.clients[i].req {
            Some(Request::Resize { height, width }) => {
                let answer = match &self.master {
                    Some(m) => match stdio::resize(m, height, width) {
                        Ok(()) => "ok\n".to_owned(),
                        Err(e) => format!("err {e}\n"),
                    },
                    None => "err the process has no terminal\n".to_owned(),
                };
                let _ = self.clients[i].sock.write_all(answer.as_bytes());
                self.clients.remove(i);
                false
            }
            Some(Request::Start) => {
                // A container's init waits to be started; an exec has not
                // been launched yet.
                let startable = match self.cfg.job {
                    Job::Container { .. } => self.target.is_some() && self.exit_code.is_none(),
                    Job::Exec { .. } => self.target.is_none() && self.start_error.is_none(),
                };
                let answer = if startable {
                    match self.start() {
                        Ok(pid) => {
                            self.settle = true;
                            format!("ok {pid}\n")
                        }
                        Err(e) => {
                            self.fail_start(&e);
                            format!("err {}\n", e.replace('\n', " "))
                        }
                    }
                } else {
                    "err the process already ran\n".to_owned()
                };
                let _ = self.clients[i].sock.write_all(answer.as_bytes());
                self.clients.remove(i);
                false
            }
            _ => true,
        }
    }

    fn fail_start(&mut self, e: &str) {
        self.start_error = Some(e.to_owned());
        if matches!(self.cfg.job, Job::Container { .. }) {
            // The init waits on exec.fifo: end it, the loop sees it exit.
            if let Some(pid) = self.target {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        } else {
            self.target = None;
        }
    }

    fn input_closed(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.input_done = true;
        if c.req.is_none() {
            self.clients.remove(i);
            return;
        }
        if let Some(Request::Attach { stdin: true, .. }) = c.req {
            if self.cfg.stdin_once && !self.cfg.tty {
                self.ours.stdin = None;
            }
        }
    }

    fn finish(&mut self) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush();
        }
        let mut oom_killed = false;
        if matches!(self.cfg.job, Job::Container { .. }) {
            if let Ok(stats) = self.rt.cgroup(&self.cfg.id).and_then(|cg| {
                cg.stats()
                    .map_err(|e| berth_runtime::Error::Invalid(e.to_string()))
            }) {
                oom_killed = stats.memory.oom_kill > 0;
            }
            if let Err(e) = self.rt.delete(&self.cfg.id, true) {
                eprintln!("berth-monitor: deleting container {}: {e}", self.cfg.id);
            }
        }
        let record = ExitRecord {
            exit_code: self
                .exit_code
                .unwrap_or(if self.start_error.is_some() { 127 } else { 255 }),
            finished_at: berth_runtime::state::time::now_rfc3339(),
            oom_killed,
            error: self.start_error.clone(),
        };
        if let Err(e) = record.write(&self.cfg.exit_path()) {
            eprintln!("berth-monitor: writing exit record: {e}");
        }
        let _ = std::fs::remove_file(self.cfg.attach_socket());
        let _ = std::fs::remove_file(self.cfg.pid_path());
        self.clients.clear();
    }
}

/// Set-up is over (the process is created, or started): what it paged
/// in goes back, the poll loop keeps only what it touches (see
/// [`resident`]).
fn release_setup_memory() {
    resident::trim_heap();
    let _ = resident::drop_unused_stack();
    let _ = resident::drop_clean_code();
}

fn bind(path: &Path) -> Result<UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(|e| format!("binding {}: {e}", path.display()))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("attach socket: {e}"))?;
    Ok(l)
}

fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn fd_or(f: &Option<File>) -> RawFd {
    f.as_ref().map_or(-1, |f| f.as_raw_fd())
}
