//! Driving a hijacked attach/exec connection: local stdin copied in (then
//! the write half closed, as docker's CloseWrite), the output copied out raw
//! with a tty or demultiplexed without one.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use super::http::Response;
use super::stdcopy;

/// Copy until the daemon closes the output. `stdin` is read on its own
/// thread, which is left blocked in `read` if the output ends first (the
/// process exits soon after, as docker's does).
pub fn pump(resp: Response, tty: bool, stdin: Option<Box<dyn Read + Send>>) -> io::Result<()> {
    if let Some(mut input) = stdin {
        let mut sock = resp.body.stream().try_clone()?;
        std::thread::spawn(move || {
            let _ = io::copy(&mut input, &mut sock);
            let _ = sock.shutdown(Shutdown::Write);
        });
    }
    let mut body = resp.body;
    let stdout = io::stdout();
    let stderr = io::stderr();
    if tty {
        let mut out = stdout.lock();
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A reset once the container is gone is the end of output.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        Ok(())
    } else {
        stdcopy::demux(body, &mut stdout.lock(), &mut stderr.lock())
    }
}
