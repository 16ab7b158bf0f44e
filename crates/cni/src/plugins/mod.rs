//! berth's CNI plugins, one module each, and what they share.

pub mod loopback;
pub mod netns;

use crate::plugin::Plugin;

/// The plugin a program name stands for (`berth-bridge` → bridge), if any.
pub fn by_name(name: &str) -> Option<Box<dyn Plugin>> {
    match name {
        "berth-loopback" => Some(Box::new(loopback::Loopback)),
        _ => None,
    }
}
