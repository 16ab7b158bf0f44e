//! berth-build: images from Dockerfiles, as docker's legacy builder
//! (`DOCKER_BUILDKIT=0 docker build`) makes them.
//!
//! [`dockerfile`] parses the file into stages of typed instructions.
//! The executor ([`build`]) runs them against `berth-image`: config
//! instructions change the image config, COPY/ADD and RUN make layers (RUN
//! in a container of berth's own runtime), and every step goes through a
//! cache keyed by the state before it, the instruction and its inputs.

mod archive;
mod config_steps;
pub mod context;
pub mod dockerfile;
mod error;
mod executor;
mod files;
mod layer_steps;
pub mod runner;

pub use context::Context;
pub use error::{BuildError, Result};
pub use executor::{
    build, build_announcing, BuildOptions, Built, Cancel, Containers, KeptRun, Progress, Removal,
    RunContainers, RunInfo, RunNetwork,
};
pub use runner::RuntimeExec;
