//! The xDS sink: the translator's Envoy resources served over ADS (state of
//! the world) to any number of Envoys.

pub mod bootstrap;
pub mod rejections;
pub mod resources;
pub mod server;
pub mod tls;
