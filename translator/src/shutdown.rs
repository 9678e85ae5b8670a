//! The signals that end `serve`, `run` and `controller`: Ctrl-C (SIGINT),
//! `kill` (SIGTERM, also what Kubernetes sends) and a closed terminal
//! (SIGHUP). Each stops the process cleanly, so `run` can stop its Envoy.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves at the first of SIGINT, SIGTERM or SIGHUP.
pub async fn requested() {
    let mut streams = Vec::new();
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        match signal(kind) {
            Ok(stream) => streams.push(stream),
            Err(e) => tracing::warn!("cannot listen for signal {kind:?}: {e}"),
        }
    }
    if streams.is_empty() {
        return std::future::pending().await;
    }
    let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
    futures::future::select_all(waits).await;
    tracing::info!("stopping");
}
