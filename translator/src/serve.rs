//! `llmgate serve`: folder mode of the control plane. Watches a folder of
//! manifests, re-translates on every (debounced) change and pushes the result
//! to every connected Envoy over ADS; serves the filter module over HTTP on
//! the same port, so Envoys need no shared filesystem and no second address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use tokio::sync::watch;

use crate::xds::resources::{Encoder, XdsSnapshot};
use crate::xds::server::{AdsServer, AdsStats};
use crate::{source, translate};

pub const FILTER_PATH: &str = "/llmgate_filter.wasm";

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub dir: PathBuf,
    pub bind: IpAddr,
    pub xds_port: u16,
    /// Mutual TLS on the control plane's port (see `Endpoints::tls`).
    pub tls: Option<PathBuf>,
    /// Plaintext on a non-loopback address, knowingly.
    pub insecure_xds: bool,
    /// Redis for global token budgets (the rate-limit service is served
    /// only with it).
    pub redis: Option<String>,
    pub translate: translate::Options,
    /// Quiet time after the last file event before re-translating.
    pub debounce: Duration,
}

/// What one pass over the folder produced.
pub struct Pass {
    pub snapshot: Result<XdsSnapshot, String>,
    pub report: Vec<String>,
}

/// Reads the folder and translates it. Pure apart from reading the files.
pub fn translate_folder(options: &ServeOptions, encoder: &mut Encoder) -> Pass {
    let started = std::time::Instant::now();
    let (snapshot, mut problems) = source::yaml::load_paths(std::slice::from_ref(&options.dir));
    let loaded = started.elapsed();
    let translation = translate::translate(&snapshot, &options.translate);
    let translated = started.elapsed();
    problems.extend(translation.problems);
    let encoded = encoder.snapshot(&translation.bootstrap);
    tracing::info!(
        load_ms = loaded.as_millis() as u64,
        translate_ms = (translated - loaded).as_millis() as u64,
        encode_ms = (started.elapsed() - translated).as_millis() as u64,
        "translated {}",
        options.dir.display()
    );
    Pass {
        snapshot: encoded,
        report: problems.iter().map(ToString::to_string).collect(),
    }
}

pub async fn serve(options: ServeOptions, wasm: Vec<u8>) -> Result<(), String> {
    let (publish, snapshots) = watch::channel::<Option<Arc<XdsSnapshot>>>(None);
    let stats = Arc::new(AdsStats::default());
    let mut encoder = Encoder::default();
    retranslate(&options, &mut encoder, &publish).await;

    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the manifests is an event too (inotify reports opens);
        // only changes count, or every translation would trigger the next.
        let is_change = event
            .as_ref()
            .map_or(true, |e| !matches!(e.kind, notify::EventKind::Access(_)));
        if is_change {
            let _ = events_tx.send(event.err());
        }
    })
    .map_err(|e| format!("cannot watch {}: {e}", options.dir.display()))?;
    notify::Watcher::watch(&mut watcher, &options.dir, notify::RecursiveMode::Recursive)
        .map_err(|e| format!("cannot watch {}: {e}", options.dir.display()))?;

    let endpoints = Endpoints {
        bind: options.bind,
        xds_port: options.xds_port,
        tls: options.tls.clone(),
        redis: options.redis.clone(),
    };
    endpoints.check(options.insecure_xds)?;
    tracing::info!(dir = %options.dir.display(), "watching");
    let serving = serve_snapshots(&endpoints, snapshots, wasm, stats, None);

    let watch_loop = async {
        while let Some(error) = events.recv().await {
            if let Some(e) = error {
                tracing::warn!("file watch: {e}");
            }
            // Debounce: an editor's save or a `git checkout` is many events.
            while let Ok(Some(_)) = tokio::time::timeout(options.debounce, events.recv()).await {}
            retranslate(&options, &mut encoder, &publish).await;
        }
    };
    tokio::select! {
        r = serving => r,
        _ = watch_loop => Err("file watcher stopped".into()),
        _ = crate::shutdown::requested() => Ok(()),
    }
}

/// Where the control plane listens: one port for everything.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub bind: IpAddr,
    pub xds_port: u16,
    /// Mutual TLS with the credentials in this folder (`ca.crt`, `tls.crt`,
    /// `tls.key`); plaintext when `None`.
    pub tls: Option<PathBuf>,
    /// Serve Envoy's rate-limit service (global token budgets) with the
    /// buckets in this Redis (`redis://host:port`).
    pub redis: Option<String>,
}

impl Endpoints {
    /// Plaintext is for loopback, or for whoever says `--insecure-xds`: xDS
    /// carries every provider key.
    pub fn check(&self, insecure: bool) -> Result<(), String> {
        if self.tls.is_none() && !self.bind.is_loopback() {
            if !insecure {
                return Err(format!(
                    "refusing plaintext xDS on {}: every provider key travels over it; give --tls-dir (see `llmgate certs`) or, on a network you trust, --insecure-xds",
                    self.bind
                ));
            }
            tracing::warn!(bind = %self.bind, "xDS in plaintext and unauthenticated (--insecure-xds): anyone who reaches this port gets every provider key");
        }
        Ok(())
    }
}

/// More Prometheus text for `/metrics` (the Kubernetes controller's own).
pub type ExtraMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The serving half of every mode (folder and Kubernetes), on one port: ADS
/// (gRPC over HTTP/2) from whatever `snapshots` holds, and over HTTP/1.1 or
/// HTTP/2 the filter module, `/healthz` (alive), `/readyz` (a configuration is
/// published) and `/metrics`. Runs until the server fails.
pub async fn serve_snapshots(
    endpoints: &Endpoints,
    snapshots: watch::Receiver<Option<Arc<XdsSnapshot>>>,
    wasm: Vec<u8>,
    stats: Arc<AdsStats>,
    extra_metrics: Option<ExtraMetrics>,
) -> Result<(), String> {
    let addr = SocketAddr::new(endpoints.bind, endpoints.xds_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let tls = match &endpoints.tls {
        Some(dir) => Some(crate::xds::tls::server_config(dir)?),
        None => None,
    };
    let rejected = stats.rejected.clone();
    let ads =
        AggregatedDiscoveryServiceServer::new(AdsServer::new(snapshots.clone(), stats.clone()));
    let mut routes =
        tonic::service::Routes::from(http_routes(wasm, stats, snapshots, extra_metrics))
            .add_service(ads);
    if let Some(url) = &endpoints.redis {
        let store = crate::ratelimit::Store::new(url)?;
        routes = routes.add_service(crate::ratelimit::Limiter::server(store));
        tracing::info!("serving the rate-limit service (global token budgets)");
    }
    tracing::info!(%addr, mutual_tls = tls.is_some(), "serving xDS and the filter module");
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(routes);
    let served = match tls {
        Some(config) => {
            server
                .serve_with_incoming(crate::xds::tls::incoming(listener, config, rejected))
                .await
        }
        None => {
            server
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        }
    };
    served.map_err(|e| format!("control plane server on {addr}: {e}"))
}

/// Reads, translates and encodes on a blocking thread: at thousands of routes
/// that is a second of CPU, which must not stall the tasks serving xDS,
/// health and metrics. The encoder (its cache) goes along and comes back.
async fn retranslate(
    options: &ServeOptions,
    encoder: &mut Encoder,
    publish: &watch::Sender<Option<Arc<XdsSnapshot>>>,
) {
    let job = options.clone();
    let mut cache = std::mem::take(encoder);
    let done = tokio::task::spawn_blocking(move || {
        let pass = translate_folder(&job, &mut cache);
        (pass, cache)
    })
    .await;
    match done {
        Ok((pass, cache)) => {
            *encoder = cache;
            publish_pass(pass, publish);
        }
        Err(e) => tracing::error!("configuration not updated, the translation failed: {e}"),
    }
}

fn publish_pass(pass: Pass, publish: &watch::Sender<Option<Arc<XdsSnapshot>>>) {
    for line in &pass.report {
        tracing::warn!("{line}");
    }
    // Every pass that encodes is served, errors or not: an invalid object is
    // one tenant's, left out (its problem is logged above), and must not
    // freeze everyone else's changes.
    match pass.snapshot {
        Ok(snapshot) => publish_if_changed(publish, snapshot),
        Err(why) => tracing::error!(
            "configuration not updated, still serving the last good one: the translation cannot be encoded for Envoy: {why}"
        ),
    }
}

/// Hands a snapshot to every Envoy stream, unless it is what they have.
pub fn publish_if_changed(
    publish: &watch::Sender<Option<Arc<XdsSnapshot>>>,
    snapshot: XdsSnapshot,
) {
    let unchanged = publish
        .borrow()
        .as_ref()
        .is_some_and(|s| s.version == snapshot.version);
    if !unchanged {
        tracing::info!(version = %snapshot.version, clusters = snapshot.clusters.len(),
            listeners = snapshot.listeners.len(), "new configuration");
        publish.send_replace(Some(Arc::new(snapshot)));
    }
}

fn http_routes(
    wasm: Vec<u8>,
    stats: Arc<AdsStats>,
    snapshots: watch::Receiver<Option<Arc<XdsSnapshot>>>,
    extra_metrics: Option<ExtraMetrics>,
) -> axum::Router {
    use axum::routing::get;
    use std::sync::atomic::Ordering::Relaxed;
    let wasm = axum::body::Bytes::from(wasm);
    axum::Router::new()
        .route(
            FILTER_PATH,
            get(move || std::future::ready(([("content-type", "application/wasm")], wasm.clone()))),
        )
        .route("/healthz", get(|| std::future::ready("ok\n")))
        .route(
            "/readyz",
            get(move || {
                let ready = snapshots.borrow().is_some();
                std::future::ready(if ready {
                    (axum::http::StatusCode::OK, "ready\n")
                } else {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "no configuration published yet\n",
                    )
                })
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let mut body = format!(
                    "# TYPE llmgate_xds_connected_envoys gauge\nllmgate_xds_connected_envoys {}\n\
                     # TYPE llmgate_xds_responses counter\nllmgate_xds_responses {}\n\
                     # TYPE llmgate_xds_nacks counter\nllmgate_xds_nacks {}\n\
                     # TYPE llmgate_xds_rejected_connections counter\nllmgate_xds_rejected_connections {}\n",
                    stats.connected.load(Relaxed),
                    stats.responses.load(Relaxed),
                    stats.nacks.load(Relaxed),
                    stats.rejected.load(Relaxed)
                );
                body.push_str(&stats.rejections().render());
                if let Some(extra) = &extra_metrics {
                    body.push_str(&extra());
                }
                std::future::ready(body)
            }),
        )
}
