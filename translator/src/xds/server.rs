//! ADS, state of the world. Each Envoy stream is a [`Connection`]: a pure state
//! machine fed with requests and new snapshots that answers with responses,
//! so the protocol rules are tested without a network. [`AdsServer`] is the
//! thin tonic shell around it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::rejections::Rejections;
use super::resources::{Resource, XdsSnapshot, CLUSTER, LISTENER, SECRET};

/// What the server reports about itself (for the controller's metrics).
#[derive(Debug, Default)]
pub struct AdsStats {
    pub connected: AtomicU64,
    pub responses: AtomicU64,
    pub nacks: AtomicU64,
    /// Connections refused before xDS: no or an untrusted client certificate.
    pub rejected: Arc<AtomicU64>,
    /// NACKs by type and node, nodes rejecting now, the last accepted snapshot.
    pub rejections: Mutex<Rejections>,
}

impl AdsStats {
    pub fn rejections(&self) -> std::sync::MutexGuard<'_, Rejections> {
        // A panic while holding the lock leaves counters, not broken invariants.
        self.rejections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, Default, Clone)]
struct TypeState {
    subscribed: bool,
    /// Nonce of the last response; only a request echoing it is an ACK/NACK.
    nonce: String,
    sent_version: String,
    /// The last version Envoy accepted.
    acked_version: String,
}

/// One Envoy's ADS stream.
#[derive(Debug, Default)]
pub struct Connection {
    pub node_id: String,
    /// The node id is the client certificate's name, not what the node says.
    node_from_certificate: bool,
    next_nonce: u64,
    clusters: TypeState,
    listeners: TypeState,
    /// SDS is not a wildcard type: Envoy names the secrets it wants (those
    /// its clusters refer to) and gets exactly those.
    secrets: TypeState,
    requested_secrets: Vec<String>,
    current: Option<Arc<XdsSnapshot>>,
    /// Clusters of the previous snapshot still sent after they were removed,
    /// until the listeners that used them are replaced (make before break).
    kept_clusters: Vec<Resource>,
}

/// A NACK, for the caller to log: Envoy rejected `version` of `type_url`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub node_id: String,
    pub type_url: String,
    pub version: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Output {
    pub responses: Vec<DiscoveryResponse>,
    pub rejection: Option<Rejection>,
    /// Envoy accepted (type URL, version).
    pub acked: Option<(String, String)>,
    /// Envoy has accepted both the clusters and the listeners of this one.
    pub accepted: Option<Arc<XdsSnapshot>>,
}

impl Connection {
    pub fn new(current: Option<Arc<XdsSnapshot>>) -> Self {
        Connection {
            current,
            ..Connection::default()
        }
    }

    /// A connection authenticated by a client certificate: its name is the
    /// node id, whatever id the requests claim.
    pub fn authenticated(current: Option<Arc<XdsSnapshot>>, identity: String) -> Self {
        Connection {
            current,
            node_id: identity,
            node_from_certificate: true,
            ..Connection::default()
        }
    }

    fn state(&mut self, type_url: &str) -> Option<&mut TypeState> {
        match type_url {
            CLUSTER => Some(&mut self.clusters),
            LISTENER => Some(&mut self.listeners),
            SECRET => Some(&mut self.secrets),
            _ => None,
        }
    }

    pub fn on_request(&mut self, request: DiscoveryRequest) -> Output {
        let mut out = Output::default();
        if let Some(node) = &request.node {
            if !node.id.is_empty() && !self.node_from_certificate {
                self.node_id = node.id.clone();
            }
        }
        let node_id = self.node_id.clone();
        if request.type_url == SECRET {
            let mut names = request.resource_names.clone();
            names.sort();
            names.dedup();
            if names != self.requested_secrets {
                // A new cluster refers to other secrets (or one went away):
                // a changed subscription, answered even when it carries the
                // last nonce.
                self.requested_secrets = names;
                if request.error_detail.is_none() {
                    self.secrets.subscribed = true;
                    self.secrets.sent_version.clear();
                    if let Some(r) = self.respond(SECRET) {
                        out.responses.push(r);
                    }
                    return out;
                }
            }
        }
        let Some(state) = self.state(&request.type_url) else {
            // Only CDS, LDS and SDS are served: routes and endpoints are inline.
            return out;
        };
        if !request.response_nonce.is_empty() && request.response_nonce != state.nonce {
            return out; // stale: answers a response that has been superseded
        }
        state.subscribed = true;
        if let Some(error) = &request.error_detail {
            // Envoy keeps its last good config; so do we, until the next change.
            out.rejection = Some(Rejection {
                node_id,
                type_url: request.type_url.clone(),
                version: state.sent_version.clone(),
                message: error.message.clone(),
            });
            return out;
        }
        if !request.response_nonce.is_empty() {
            // An ACK. Once the new listeners are in place, the clusters only
            // the old ones used can go.
            state.acked_version = request.version_info.clone();
            out.acked = Some((request.type_url.clone(), request.version_info.clone()));
            let current_version = self
                .current
                .as_ref()
                .map(|c| c.version.clone())
                .unwrap_or_default();
            let cluster_version = self.clusters.acked_version.split('+').next().unwrap_or("");
            if cluster_version == current_version && self.listeners.acked_version == current_version
            {
                out.accepted = self.current.clone();
            }
            if request.type_url == LISTENER
                && request.version_info == current_version
                && !self.kept_clusters.is_empty()
            {
                self.kept_clusters.clear();
                if let Some(r) = self.respond(CLUSTER) {
                    out.responses.push(r);
                }
            }
            return out;
        }
        // A first request (or a re-subscription after reconnecting).
        if let Some(r) = self.respond(&request.type_url) {
            out.responses.push(r);
        }
        out
    }

    pub fn on_snapshot(&mut self, snapshot: Arc<XdsSnapshot>) -> Output {
        let mut out = Output::default();
        if let Some(previous) = &self.current {
            if self.listeners.subscribed && self.listeners.sent_version == previous.version {
                let removed = previous
                    .clusters
                    .iter()
                    .filter(|c| !snapshot.clusters.iter().any(|n| n.name == c.name));
                self.kept_clusters = removed.cloned().collect();
            }
        }
        self.current = Some(snapshot);
        // Changed keys first (a new cluster's secrets are asked for once
        // Envoy has it); clusters before the listeners that refer to them.
        for type_url in [SECRET, CLUSTER, LISTENER] {
            if let Some(r) = self.respond(type_url) {
                out.responses.push(r);
            }
        }
        out
    }

    fn respond(&mut self, type_url: &str) -> Option<DiscoveryResponse> {
        let snapshot = self.current.clone()?;
        let mut resources: Vec<Resource> = snapshot.resources(type_url).to_vec();
        let mut version = snapshot.version.clone();
        if type_url == SECRET {
            resources.retain(|r| self.requested_secrets.contains(&r.name));
        }
        if type_url == CLUSTER && !self.kept_clusters.is_empty() {
            resources.extend(self.kept_clusters.iter().cloned());
            version.push_str("+previous");
        }
        let nonce = (self.next_nonce + 1).to_string();
        let state = match type_url {
            CLUSTER => &mut self.clusters,
            LISTENER => &mut self.listeners,
            SECRET => &mut self.secrets,
            _ => return None,
        };
        if !state.subscribed || state.sent_version == version {
            return None;
        }
        state.nonce = nonce.clone();
        self.next_nonce += 1;
        state.sent_version = version.clone();
        Some(DiscoveryResponse {
            version_info: version,
            resources: resources.into_iter().map(|r| r.any).collect(),
            type_url: type_url.to_string(),
            nonce,
            ..DiscoveryResponse::default()
        })
    }
}

/// The gRPC service. Snapshots arrive through a watch channel; every stream
/// sees the latest one.
#[derive(Debug, Clone)]
pub struct AdsServer {
    snapshots: watch::Receiver<Option<Arc<XdsSnapshot>>>,
    stats: Arc<AdsStats>,
}

impl AdsServer {
    pub fn new(snapshots: watch::Receiver<Option<Arc<XdsSnapshot>>>, stats: Arc<AdsStats>) -> Self {
        AdsServer { snapshots, stats }
    }
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsServer {
    type StreamAggregatedResourcesStream = ResponseStream<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = ResponseStream<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        let tls = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
        let peer = tls
            .map(TlsConnectInfo::get_ref)
            .or_else(|| request.extensions().get::<TcpConnectInfo>())
            .and_then(TcpConnectInfo::remote_addr)
            .map_or_else(|| "?".to_string(), |a| a.to_string());
        let identity = tls
            .and_then(TlsConnectInfo::peer_certs)
            .and_then(|certs| certs.first().and_then(super::tls::common_name));
        let mut inbound = request.into_inner();
        let mut snapshots = self.snapshots.clone();
        let stats = self.stats.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            stats.connected.fetch_add(1, Ordering::Relaxed);
            let current = snapshots
                .borrow_and_update()
                .clone()
                .map(|s| stats.rejections().servable(s));
            let mut connection = match identity {
                Some(name) => Connection::authenticated(current, name),
                None => Connection::new(current),
            };
            let mut announced = false;
            loop {
                let output = tokio::select! {
                    message = inbound.message() => match message {
                        Ok(Some(request)) => {
                            if !announced {
                                announced = true;
                                let claimed = request.node.as_ref().map(|n| n.id.as_str()).unwrap_or("");
                                if connection.node_from_certificate && claimed != connection.node_id {
                                    tracing::warn!(node = %connection.node_id, claimed, %peer,
                                        "an Envoy claims another node id than its certificate's; the certificate's is used");
                                }
                                tracing::info!(node = %connection.node_id, %peer,
                                    authenticated = connection.node_from_certificate, "Envoy connected");
                            }
                            connection.on_request(request)
                        }
                        Ok(None) | Err(_) => break,
                    },
                    changed = snapshots.changed() => {
                        if changed.is_err() { break; }
                        let latest = snapshots.borrow_and_update().clone();
                        match latest.map(|s| stats.rejections().servable(s)) {
                            Some(snapshot) => connection.on_snapshot(snapshot),
                            None => continue,
                        }
                    }
                };
                if let Some((type_url, version)) = &output.acked {
                    let latest = snapshots.borrow().as_ref().map(|s| s.version.clone());
                    if latest.as_deref() == version.split('+').next() {
                        stats.rejections().ack(&connection.node_id, type_url);
                    }
                }
                if let Some(snapshot) = output.accepted {
                    stats.rejections().accepted(snapshot);
                }
                if let Some(r) = output.rejection {
                    stats.rejections().nack(&r);
                    stats.nacks.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(node = %r.node_id, type_url = %r.type_url, version = %r.version,
                        "Envoy rejected the configuration (it keeps its last good one; Envoys connecting now get the last one accepted): {}", r.message);
                }
                for response in output.responses {
                    stats.responses.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Ok(response)).await.is_err() {
                        break;
                    }
                }
            }
            stats.rejections().disconnected(&connection.node_id);
            stats.connected.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "llmgate serves state-of-the-world ADS; use api_type GRPC",
        ))
    }
}

#[cfg(test)]
mod tests;
