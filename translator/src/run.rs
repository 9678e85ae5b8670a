//! `llmgate run`: the one-command local gateway. The control plane in this
//! process, Envoy as a child bootstrapped to it; Ctrl-C stops both.

use std::path::PathBuf;
use std::process::Stdio;

use crate::serve::{serve, ServeOptions};
use crate::xds::bootstrap::{bootstrap, BootstrapOptions};

pub struct RunOptions {
    pub serve: ServeOptions,
    pub envoy: PathBuf,
    pub admin_port: u16,
    pub envoy_log_level: String,
}

pub async fn run(options: RunOptions, wasm: Vec<u8>) -> Result<(), String> {
    let local = options.serve.bind.to_string();
    let config = bootstrap(&BootstrapOptions {
        xds_host: local.clone(),
        xds_port: options.serve.xds_port,
        filter_host: local,
        filter_port: options.serve.filter_port,
        node_id: "llmgate-run".into(),
        admin_port: options.admin_port,
    });
    let dir = std::env::temp_dir().join(format!("llmgate-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("envoy-bootstrap.yaml");
    crate::sink::bootstrap::write(&config, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let mut envoy = tokio::process::Command::new(&options.envoy)
        .args(["-c", &path.display().to_string()])
        .args(["--log-level", &options.envoy_log_level])
        // One gateway per machine is the point of `run`; no shared memory needed.
        .arg("--disable-hot-restart")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start Envoy ({}): {e}", options.envoy.display()))?;
    tracing::info!(envoy = %options.envoy.display(), admin = options.admin_port, "started Envoy");

    let result = tokio::select! {
        r = serve(options.serve, wasm) => r,
        status = envoy.wait() => Err(format!("Envoy exited: {}", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))),
    };
    let _ = envoy.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
