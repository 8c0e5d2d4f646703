//! The session service library: every function is a few lines of wiring around this crate.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod identity;
pub mod service;
pub mod store;
pub mod telemetry;

pub use app::App;
