//! Tellus's test harness, one copy for every crate's tests (a dev-dependency only):
//! a real tellus-server in the test's process on 127.0.0.1 ([`server`]), enrolled
//! devices ([`enrol`]), consent events ([`consent`]), story documents and delivered
//! stories ([`story`]), tus uploads ([`tus`]), generated audio and its real copies
//! ([`fixtures`]), the sample project ([`sample`]), checks of pulled folders
//! ([`checks`]), a fault-injecting loopback proxy ([`proxy`]), a round-robin balancer for replicas
//! ([`balancer`]), polling with a deadline
//! ([`wait`]), and real services started for a test on loopback ([`services`]).
//!
//! Helpers panic with a message when something the test relies on fails: they only run
//! inside tests, where a panic is the failure report.

pub mod balancer;
pub mod checks;
pub mod consent;
pub mod enrol;
pub mod fixtures;
pub mod proxy;
pub mod sample;
pub mod server;
pub mod services;
mod shared_postgres;
mod shared_seaweed;
mod stored;
pub mod story;
pub mod tus;
pub mod wait;

pub use enrol::Device;
pub use sample::{PROJECT, SAMPLE_PROJECT};
pub use server::{Database, ServerOptions, Storage, TestServer};
