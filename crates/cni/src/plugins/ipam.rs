//! Delegation to the IPAM plugin named by `ipam.type`: berth-host-local runs
//! in-process, any other (host-local, static, dhcp, ...) is found on
//! CNI_PATH and run with the same environment and stdin, as the spec asks.

use crate::client::exec::{find_plugin, invoke, InvokeEnv};
use crate::plugin::Request;
use crate::types::{CniError, CniResult, Command, ErrorCode};

use super::host_local;

/// The IPAM plugin type, if the configuration names one.
pub fn ipam_type(req: &Request) -> Option<&str> {
    req.conf.ipam.as_ref()?.ipam_type.as_deref()
}

fn in_process(t: &str) -> bool {
    t == "berth-host-local"
}

fn exec(req: &Request, t: &str, command: Command) -> Result<Vec<u8>, CniError> {
    let exe = find_plugin(t, &req.args.path)
        .map_err(|e| CniError::invalid_config(format!("network config: field `ipam.type`: {e}")))?;
    let env = InvokeEnv {
        container_id: req.args.container_id.clone(),
        netns: req.args.netns.clone(),
        ifname: req.args.ifname.clone(),
        args: req.args.args.clone(),
        path: req.args.path.clone(),
    };
    invoke(&exe, command, &env, &req.stdin).map_err(|e| e.into_cni())
}

/// ADD: the IPAM result (no interfaces).
pub fn add(req: &Request, t: &str) -> Result<CniResult, CniError> {
    if in_process(t) {
        return host_local::allocate(req);
    }
    let out = exec(req, t, Command::Add)?;
    let v: serde_json::Value = serde_json::from_slice(&out).map_err(|e| {
        CniError::new(
            ErrorCode::DELEGATE_FAILED,
            format!("IPAM plugin {t} printed no JSON result: {e}"),
        )
    })?;
    CniResult::from_json(&v, &format!("IPAM plugin {t} result"))
}

/// ADD whose leases may still be syncing to disk (berth-host-local in
/// process): the caller waits on the second value before answering.
pub fn add_deferred(
    req: &Request,
    t: &str,
) -> Result<(CniResult, Option<host_local::Durable>), CniError> {
    if in_process(t) {
        let (r, durable) = host_local::allocate_deferred(req)?;
        return Ok((r, Some(durable)));
    }
    add(req, t).map(|r| (r, None))
}

pub fn del(req: &Request, t: &str) -> Result<(), CniError> {
    if in_process(t) {
        return host_local::release(req);
    }
    exec(req, t, Command::Del).map(|_| ())
}

pub fn check(req: &Request, t: &str) -> Result<(), CniError> {
    if in_process(t) {
        return host_local::check(req);
    }
    exec(req, t, Command::Check).map(|_| ())
}

pub fn gc(req: &Request, t: &str) -> Result<(), CniError> {
    if in_process(t) {
        return host_local::gc(req);
    }
    tolerate_pre_1_1(exec(req, t, Command::Gc))
}

pub fn status(req: &Request, t: &str) -> Result<(), CniError> {
    if in_process(t) {
        return host_local::status(req);
    }
    tolerate_pre_1_1(exec(req, t, Command::Status))
}

/// An IPAM plugin that predates 1.1 (Debian's host-local is 1.0) has no GC
/// or STATUS and answers code 1: it has nothing to collect and is ready.
fn tolerate_pre_1_1(r: Result<Vec<u8>, CniError>) -> Result<(), CniError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == ErrorCode::IncompatibleVersion => Ok(()),
        Err(e) => Err(e),
    }
}
