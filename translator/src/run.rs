//! `llmgate run`: the one-command local gateway. The control plane in this
//! process, Envoy as a child bootstrapped to it; Ctrl-C, SIGTERM or SIGHUP
//! stop both, and Envoy also stops if this process dies without cleaning up.

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
        xds_host: local,
        xds_port: options.serve.xds_port,
        node_id: "llmgate-run".into(),
        admin_port: options.admin_port,
        // Its own child, over loopback.
        tls: None,
    });
    let dir = std::env::temp_dir().join(format!("llmgate-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("envoy-bootstrap.yaml");
    crate::sink::bootstrap::write(&config, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let mut envoy = tokio::process::Command::new(&options.envoy);
    envoy
        .args(["-c", &path.display().to_string()])
        .args(["--log-level", &options.envoy_log_level])
        // One gateway per machine is the point of `run`; no shared memory needed.
        .arg("--disable-hot-restart")
        // The access log line of a request shows up when it ends, not up to
        // 10 s later (Envoy's default).
        .args(["--file-flush-interval-msec", ACCESS_LOG_FLUSH_MS])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        envoy.pre_exec(|| {
            // Killed with us even by SIGKILL: an orphaned Envoy would keep
            // the gateway's ports and answer the next `run`'s clients.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut envoy = envoy
        .spawn()
        .map_err(|e| format!("cannot start Envoy ({}): {e}", options.envoy.display()))?;
    tracing::info!(envoy = %options.envoy.display(), admin = options.admin_port, "started Envoy");

    let result = tokio::select! {
        r = serve(options.serve, wasm) => r,
        status = envoy.wait() => Err(format!("Envoy exited: {}", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))),
    };
    stop(&mut envoy).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// How often Envoy writes access log lines out (`--file-flush-interval-msec`).
pub const ACCESS_LOG_FLUSH_MS: &str = "500";

/// SIGTERM (Envoy drains and exits), SIGKILL if it has not within 5 s.
async fn stop(envoy: &mut tokio::process::Child) {
    if let Some(pid) = envoy.id() {
        // SAFETY: a plain syscall on our own child's pid, not yet reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        if let Ok(Ok(status)) =
            tokio::time::timeout(std::time::Duration::from_secs(5), envoy.wait()).await
        {
            tracing::info!(%status, "Envoy stopped");
            return;
        }
    }
    let _ = envoy.kill().await;
}
