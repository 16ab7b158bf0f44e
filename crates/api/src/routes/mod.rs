//! One router module per Docker API group.

pub mod build;
pub mod containers;
pub mod exec;
pub mod images;
pub mod networks;
pub mod swarm;
pub mod system;
pub mod volumes;
