//! llmgate's translator: Gateway API + kgateway AI `Backend` resources in,
//! Envoy configuration out.

pub mod backend;
pub mod certs;
pub mod emit;
pub mod ir;
pub mod json;
pub mod kubernetes;
pub mod problem;
pub mod ratelimit;
pub mod redact;
pub mod run;
pub mod serve;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod status;
pub mod traffic_policy;
pub mod translate;
pub mod validate;
pub mod xds;
pub mod yaml;
