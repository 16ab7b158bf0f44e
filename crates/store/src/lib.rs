//! berth-store: the one key-value abstraction for berth's persistent state.
//!
//! Layers above (net IPAM, later the engine) keep their state here; the
//! embedded backend is redb, an etcd backend for multi-host networks comes
//! with the overlay driver.
