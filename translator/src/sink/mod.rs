//! Where Envoy configuration goes.

pub mod bootstrap;
