//! The live status of a container, derived from its init process (alive,
//! same start time), the exec.fifo (present until start) and the freezer.

use crate::state::{proc_stat, ContainerDir, Record, State, Status};

/// Is the recorded init still the same, live process?
pub fn init_alive(rec: &Record) -> bool {
    match proc_stat(rec.state.pid) {
        Some(st) => {
            st.start_time == rec.berth.init_start_time
                && !st.exiting
                && !matches!(st.state, 'Z' | 'X' | 'x')
        }
        None => false,
    }
}

/// Current status of the container recorded in `rec`.
pub fn current(dir: &ContainerDir, rec: &Record) -> Status {
    if !init_alive(rec) {
        return Status::Stopped;
    }
    if dir.fifo_path().exists() {
        return Status::Created;
    }
    if rec.state.status == Status::Paused {
        let frozen = rec.cgroup().and_then(|m| m.is_frozen()).unwrap_or(false);
        if frozen {
            return Status::Paused;
        }
    }
    Status::Running
}

/// The public state with the live status (pid 0 once stopped, as runc).
pub fn live_state(dir: &ContainerDir, rec: &Record) -> State {
    let mut s = rec.state.clone();
    s.status = current(dir, rec);
    if s.status == Status::Stopped {
        s.pid = 0;
    }
    s
}

/// The OCI state object given to hooks on stdin (runtime-spec's fields
/// only: ociVersion, id, status, pid, bundle, annotations).
pub fn hook_state(state: &State, status: Status) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": state.oci_version,
        "id": state.id,
        "status": status.as_str(),
        "bundle": state.bundle,
    });
    if state.pid > 0 && status != Status::Stopped {
        v["pid"] = serde_json::json!(state.pid);
    }
    if !state.annotations.is_empty() {
        v["annotations"] = serde_json::json!(state.annotations);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
