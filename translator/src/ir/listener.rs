//! Listeners: one per port, with their virtual hosts.

use super::route::Route;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub bind: String,
    pub port: u16,
    pub protocol: Protocol,
    /// HTTP: one chain. HTTPS: one per SNI name (`None`: the default chain).
    pub chains: Vec<Chain>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub server_name: Option<String>,
    pub certificates: Vec<ServerCertificate>,
    /// Exact hostnames first.
    pub virtual_hosts: Vec<VirtualHost>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VirtualHost {
    /// A Gateway API hostname, `*` for any.
    pub hostname: String,
    /// In precedence order.
    pub routes: Vec<Route>,
}

/// One HTTPS listener's server certificate (PEM). Debug never shows the key.
#[derive(Clone, PartialEq)]
pub struct ServerCertificate {
    pub chain: String,
    pub key: String,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCertificate { .. }")
    }
}
