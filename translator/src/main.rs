//! `llmgate`: the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use llmgate_translator::problem::Severity;
use llmgate_translator::{sink, source, status, translate};

#[derive(Parser)]
#[command(name = "llmgate", version, about = "An AI gateway on stock Envoy")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Translate manifests (Gateway, HTTPRoute, Backend, Secret) into an Envoy bootstrap.
    ///
    /// Problems are printed one per line on stderr. The bootstrap is written
    /// even when some objects are invalid (they are left out, the rest is
    /// served); the exit code is then 1.
    Translate(TranslateArgs),
    /// Print every object's status (Gateway API conditions) as YAML: why a
    /// Gateway, listener, HTTPRoute or Backend is or is not served.
    ///
    /// Problems are printed on stderr as for `translate`.
    Status(StatusArgs),
    /// Serve a folder of manifests to any number of Envoys over xDS (ADS),
    /// re-translating on every change; also serves the filter module over HTTP.
    ///
    /// Every change is served: objects with errors are left out (and their
    /// problems logged), everything valid beside them is served.
    Serve(ServeArgs),
    /// Print an Envoy bootstrap that takes its configuration from `llmgate serve`.
    Bootstrap(BootstrapArgs),
    /// The local gateway in one command: `serve` plus an Envoy child
    /// bootstrapped to it. Ctrl-C stops both.
    Run(RunArgs),
    /// Print the Backend and TrafficPolicy CustomResourceDefinitions (generated from llmgate's types).
    Crds,
    /// Create the CA and certificates for mutual TLS between Envoys and the
    /// control plane.
    Certs(CertsArgs),
    /// Kubernetes mode: watch the cluster's Gateway API objects, Backends,
    /// Services, EndpointSlices and the Secrets in use; serve them to any
    /// number of Envoys over xDS (every replica); write statuses back (the
    /// replica holding the Lease).
    Controller(ControllerArgs),
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// The control plane's one port: xDS (ADS, gRPC) and, over HTTP, the
    /// filter module, /healthz, /readyz and /metrics.
    #[arg(long, default_value_t = 18000)]
    xds_port: u16,
    /// Address the control plane listens on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: std::net::IpAddr,
    /// Mutual TLS on that port: `ca.crt`, `tls.crt`, `tls.key` in this
    /// folder (`llmgate certs` makes them); only Envoys with a certificate
    /// from that CA are served.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Allow plaintext, unauthenticated xDS on a non-loopback address.
    #[arg(long)]
    insecure_xds: bool,
    /// Redis for global token budgets (`redis://host:port`): the control
    /// plane then serves Envoy's rate-limit service on its port, and
    /// TrafficPolicy `rateLimit.llmTokens` with `global: true` is served.
    #[arg(long)]
    redis: Option<String>,
    /// The llmgate filter module to serve (default as for `translate`).
    #[arg(long)]
    filter: Option<PathBuf>,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Address Gateway listeners bind to.
    #[arg(long, default_value = "0.0.0.0")]
    listen_address: String,
    /// Watch only this namespace (GatewayClasses and Namespaces are
    /// cluster-scoped and always watched); default: all namespaces.
    #[arg(long)]
    namespace: Option<String>,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, else
    /// the service account's namespace, else `default`).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "llmgate-controller")]
    lease_name: String,
    /// This replica's name in the Lease (default: $POD_NAME, else $HOSTNAME).
    #[arg(long)]
    identity: Option<String>,
}

/// How the Gateway's Envoy is configured, whatever delivers the configuration.
#[derive(clap::Args)]
struct GatewayArgs {
    #[command(flatten)]
    serving: ServingArgs,
    /// Wasm runtime: v8, wamr or wasmtime.
    #[arg(long, default_value = "v8", value_parser = ["v8", "wamr", "wasmtime"])]
    wasm_runtime: String,
    /// CA bundle used to verify providers' certificates.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_bundle: PathBuf,
}

#[derive(clap::Args)]
struct ControlPlaneArgs {
    /// The folder of manifests to watch.
    #[arg(short = 'f', long = "filename")]
    dir: PathBuf,
    /// The control plane's one port: xDS (ADS, gRPC) and, over HTTP, the
    /// filter module, /healthz, /readyz and /metrics.
    #[arg(long, default_value_t = 18000)]
    xds_port: u16,
    /// Address the control plane listens on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Mutual TLS on that port: `ca.crt`, `tls.crt`, `tls.key` in this
    /// folder (`llmgate certs` makes them); only Envoys with a certificate
    /// from that CA are served.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Allow plaintext, unauthenticated xDS on a non-loopback address.
    #[arg(long)]
    insecure_xds: bool,
    /// Redis for global token budgets (`redis://host:port`): the control
    /// plane then serves Envoy's rate-limit service on its port, and
    /// TrafficPolicy `rateLimit.llmTokens` with `global: true` is served.
    #[arg(long)]
    redis: Option<String>,
    /// The llmgate filter module to serve (default as for `translate`).
    #[arg(long)]
    filter: Option<PathBuf>,
    #[command(flatten)]
    gateway: GatewayArgs,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    control_plane: ControlPlaneArgs,
    /// Address Gateway listeners bind to.
    #[arg(long, default_value = "0.0.0.0")]
    listen_address: String,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    control_plane: ControlPlaneArgs,
    /// Address Gateway listeners bind to (a local gateway: loopback).
    #[arg(long, default_value = "127.0.0.1")]
    listen_address: String,
    /// The Envoy binary (default: .venv/bin/envoy when present, else `envoy`).
    #[arg(long)]
    envoy: Option<PathBuf>,
    /// Envoy admin port (127.0.0.1 only).
    #[arg(long, default_value_t = 19000)]
    admin_port: u16,
    /// Envoy's own log level.
    #[arg(long, default_value = "warn")]
    envoy_log_level: String,
}

#[derive(clap::Args)]
struct BootstrapArgs {
    /// Where `llmgate serve` (or `controller`) listens: xDS, and the filter
    /// module Envoy fetches from the same address.
    #[arg(long)]
    xds_address: String,
    /// The Envoy's node id (shown in the controller's logs).
    #[arg(long, default_value = "llmgate")]
    node_id: String,
    /// Envoy admin port (127.0.0.1 only).
    #[arg(long, default_value_t = 19000)]
    admin_port: u16,
    /// Write the bootstrap here instead of stdout.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Mutual TLS to the control plane: the folder, on Envoy's machine,
    /// holding `ca.crt`, `tls.crt` and `tls.key` (the `envoy/` folder of
    /// `llmgate certs`).
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// Allow plaintext, unauthenticated xDS to a non-loopback address.
    #[arg(long)]
    insecure_xds: bool,
}

#[derive(clap::Args)]
struct CertsArgs {
    /// Folder to create: ca.crt, ca.key, server/ and envoy/ (each ca.crt,
    /// tls.crt, tls.key). Existing files are never overwritten.
    #[arg(short = 'o', long, required_unless_present = "kubernetes")]
    output: Option<PathBuf>,
    /// A name the Envoys dial the control plane by (repeatable); localhost,
    /// 127.0.0.1 and ::1 are always included.
    #[arg(long = "server-name")]
    server_names: Vec<String>,
    /// The Envoys' node id: their certificate's common name.
    #[arg(long, default_value = "llmgate-envoy")]
    node_id: String,
    /// Print the two Kubernetes TLS Secrets (llmgate-xds-server,
    /// llmgate-xds-client) in this namespace instead of writing files; the
    /// server certificate then also names llmgate-controller.NAMESPACE.svc
    /// and .svc.cluster.local.
    #[arg(long, value_name = "NAMESPACE")]
    kubernetes: Option<String>,
}

/// What decides which Gateways are llmgate's and how Services are reached.
#[derive(clap::Args)]
struct ServingArgs {
    /// Serve only Gateways of this GatewayClass.
    #[arg(long)]
    gateway_class: Option<String>,
    /// The GatewayClass `controllerName` that is llmgate's. Gateways whose
    /// class is in the input with another controller are not served; Gateways
    /// whose class is not in the input are served (with a warning).
    #[arg(long, default_value = translate::DEFAULT_CONTROLLER_NAME)]
    controller_name: String,
    /// DNS suffix of Services without EndpointSlices in the input
    /// (`<name>.<namespace>.svc.<cluster domain>`).
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// Manifest file or folder (multi-document YAML); repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    serving: ServingArgs,
}

#[derive(clap::Args)]
struct TranslateArgs {
    /// Manifest file or folder (multi-document YAML); repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// The llmgate filter module. Default: llmgate_filter.wasm found beside
    /// this binary (or in ../wasm32-wasip1/release/ when run from target/).
    #[arg(long)]
    filter: Option<PathBuf>,
    /// Envoy admin port (admin listens on 127.0.0.1 only).
    #[arg(long, default_value_t = 19000)]
    admin_port: u16,
    /// Write the bootstrap here instead of stdout.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    serving: ServingArgs,
    /// Address Gateway listeners bind to.
    #[arg(long, default_value = "0.0.0.0")]
    listen_address: String,
    /// Wasm runtime: v8, wamr or wasmtime.
    #[arg(long, default_value = "v8", value_parser = ["v8", "wamr", "wasmtime"])]
    wasm_runtime: String,
    /// CA bundle used to verify providers' certificates.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_bundle: PathBuf,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Translate(args) => run_translate(args),
        Command::Status(args) => run_status(args),
        Command::Serve(args) => run_control_plane(args.control_plane, args.listen_address, None),
        Command::Run(args) => {
            let envoy = args.envoy.clone().unwrap_or_else(default_envoy);
            let local = (envoy, args.admin_port, args.envoy_log_level);
            run_control_plane(args.control_plane, args.listen_address, Some(local))
        }
        Command::Bootstrap(args) => run_bootstrap(args),
        Command::Controller(args) => run_controller(args),
        Command::Certs(args) => run_certs(args),
        Command::Crds => {
            print!(
                "{}---\n{}",
                llmgate_translator::backend::crd_yaml(),
                llmgate_translator::traffic_policy::crd_yaml()
            );
            ExitCode::SUCCESS
        }
    }
}

fn run_controller(args: ControllerArgs) -> ExitCode {
    use llmgate_translator::{kubernetes, serve};
    use sha2::Digest as _;
    init_logging();
    let wasm = match locate_filter(args.filter.as_deref())
        .and_then(|p| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display())))
    {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Envoys in the cluster fetch the module from the controller's Service.
    let sha256: String = sha2::Sha256::digest(&wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let filter = llmgate_translator::xds::bootstrap::remote_filter(sha256);
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let lease_namespace = args
        .lease_namespace
        .or_else(|| env("POD_NAMESPACE"))
        .unwrap_or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .map(|ns| ns.trim().to_string())
                .ok()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| "default".into())
        });
    let identity = args
        .identity
        .or_else(|| env("POD_NAME"))
        .or_else(|| env("HOSTNAME"))
        .unwrap_or_else(|| format!("llmgate-{}", std::process::id()));
    let gateway = args.gateway;
    let options = kubernetes::ControllerOptions {
        endpoints: serve::Endpoints {
            bind: args.bind,
            xds_port: args.xds_port,
            tls: args.tls_dir,
            redis: args.redis.clone(),
        },
        translate: translate::Options {
            filter,
            wasm_runtime: gateway.wasm_runtime,
            gateway_class: gateway.serving.gateway_class,
            controller_name: gateway.serving.controller_name,
            cluster_domain: gateway.serving.cluster_domain,
            listen_address: args.listen_address,
            ca_bundle: gateway.ca_bundle,
            // Keys travel with the rest of the configuration over ADS.
            secrets: llmgate_translator::ir::SecretDelivery::Ads,
            rate_limit_service: args
                .redis
                .is_some()
                .then(|| llmgate_translator::xds::bootstrap::XDS_CLUSTER.to_owned()),
            ..translate::Options::default()
        },
        namespace: args.namespace,
        lease: kubernetes::leader::LeaseOptions::new(lease_namespace, args.lease_name, identity),
        debounce: std::time::Duration::from_millis(100),
        resync: std::time::Duration::from_secs(300),
    };
    if let Err(e) = options.endpoints.check(args.insecure_xds) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|runtime| runtime.block_on(kubernetes::controller(options, wasm)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn default_envoy() -> PathBuf {
    let venv = PathBuf::from(".venv/bin/envoy");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("envoy")
    }
}

fn split_address(address: &str, what: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{what}: expected HOST:PORT, got {address:?}"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{what}: invalid port in {address:?}"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

fn run_certs(args: CertsArgs) -> ExitCode {
    use llmgate_translator::certs;
    let mut server_names = args.server_names.clone();
    if let Some(namespace) = &args.kubernetes {
        // The names the deploy manifests' Envoys dial the controller by.
        server_names.push(format!("llmgate-controller.{namespace}.svc.cluster.local"));
        server_names.push(format!("llmgate-controller.{namespace}.svc"));
    }
    let issued = match certs::issue(&server_names, &args.node_id) {
        Ok(issued) => issued,
        Err(e) => {
            eprintln!("error: cannot create certificates: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(namespace) = &args.kubernetes {
        print!("{}", certs::kubernetes_secrets(&issued, namespace));
        return ExitCode::SUCCESS;
    }
    let Some(dir) = args.output else {
        eprintln!("error: give -o DIR or --kubernetes NAMESPACE");
        return ExitCode::from(2);
    };
    match certs::write(&issued, &dir) {
        Ok(()) => {
            eprintln!(
                "wrote {0}/ca.crt, {0}/ca.key, {0}/server/ (llmgate serve --tls-dir) and {0}/envoy/ (llmgate bootstrap --tls-dir)",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_bootstrap(args: BootstrapArgs) -> ExitCode {
    use llmgate_translator::xds::bootstrap::{bootstrap, BootstrapOptions};
    let addresses = split_address(&args.xds_address, "--xds-address").and_then(
        |(xds_host, xds_port)| {
            let loopback = xds_host == "localhost"
                || xds_host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if args.tls_dir.is_none() && !loopback && !args.insecure_xds {
                return Err(format!(
                    "refusing plaintext xDS to {xds_host}: give --tls-dir (see `llmgate certs`) or, on a network you trust, --insecure-xds"
                ));
            }
            Ok(BootstrapOptions {
                xds_host,
                xds_port,
                node_id: args.node_id.clone(),
                admin_port: args.admin_port,
                tls: args.tls_dir.clone(),
            })
        },
    );
    let options = match addresses {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = bootstrap(&options);
    match emit(&config, args.output.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Control-plane logs on stderr, `RUST_LOG` to filter (default info).
fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Writes a bootstrap to `output`, or to stdout.
fn emit(bootstrap: &serde_json::Value, output: Option<&Path>) -> Result<(), String> {
    match output {
        Some(path) => sink::bootstrap::write(bootstrap, path)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            print!("{}", sink::bootstrap::render(bootstrap));
            Ok(())
        }
    }
}

/// `serve`, or `run` when `envoy` is given: (binary, admin port, log level).
fn run_control_plane(
    args: ControlPlaneArgs,
    listen_address: String,
    envoy: Option<(PathBuf, u16, String)>,
) -> ExitCode {
    use llmgate_translator::{run, serve};
    use sha2::Digest as _;
    init_logging();
    if envoy.is_some() && args.tls_dir.is_some() {
        eprintln!("error: `run` talks to its own Envoy over loopback; --tls-dir is for `serve`");
        return ExitCode::from(2);
    }
    let located = locate_filter(args.filter.as_deref()).and_then(|p| {
        std::fs::read(&p)
            .map(|bytes| (p.clone(), bytes))
            .map_err(|e| format!("{}: {e}", p.display()))
    });
    let (wasm_path, wasm) = match located {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = if envoy.is_some() {
        // Envoy is our child on this machine: read the module from disk
        // (Envoy calls remote wasm fetching unstable).
        llmgate_translator::ir::FilterCode::Local(wasm_path)
    } else {
        let sha256: String = sha2::Sha256::digest(&wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        llmgate_translator::xds::bootstrap::remote_filter(sha256)
    };
    let gateway = args.gateway;
    let options = serve::ServeOptions {
        dir: args.dir,
        bind: args.bind,
        xds_port: args.xds_port,
        tls: args.tls_dir,
        insecure_xds: args.insecure_xds,
        redis: args.redis.clone(),
        debounce: std::time::Duration::from_millis(100),
        translate: translate::Options {
            filter,
            wasm_runtime: gateway.wasm_runtime,
            gateway_class: gateway.serving.gateway_class,
            controller_name: gateway.serving.controller_name,
            cluster_domain: gateway.serving.cluster_domain,
            listen_address,
            ca_bundle: gateway.ca_bundle,
            // Keys travel with the rest of the configuration over ADS.
            secrets: llmgate_translator::ir::SecretDelivery::Ads,
            rate_limit_service: args
                .redis
                .is_some()
                .then(|| llmgate_translator::xds::bootstrap::XDS_CLUSTER.to_owned()),
            ..translate::Options::default()
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match envoy {
        None => runtime.block_on(serve::serve(options, wasm)),
        Some((envoy, admin_port, envoy_log_level)) => runtime.block_on(run::run(
            run::RunOptions {
                serve: options,
                envoy,
                admin_port,
                envoy_log_level,
            },
            wasm,
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_translate(args: TranslateArgs) -> ExitCode {
    let filter_path = match locate_filter(args.filter.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (snapshot, mut problems) = source::yaml::load_paths(&args.files);
    let options = translate::Options {
        admin_port: args.admin_port,
        filter: llmgate_translator::ir::FilterCode::Local(filter_path),
        wasm_runtime: args.wasm_runtime,
        gateway_class: args.serving.gateway_class,
        controller_name: args.serving.controller_name,
        cluster_domain: args.serving.cluster_domain,
        listen_address: args.listen_address,
        ca_bundle: args.ca_bundle,
        // The bootstrap carries the keys as static secrets.
        secrets: llmgate_translator::ir::SecretDelivery::Static,
        // No control plane behind a bootstrap file: no global budgets.
        rate_limit_service: None,
    };
    let translation = translate::translate(&snapshot, &options);
    problems.extend(translation.problems);
    for problem in &problems {
        eprintln!("{problem}");
    }
    if let Err(e) = emit(&translation.bootstrap, args.output.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if problems.iter().any(|p| p.severity == Severity::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_status(args: StatusArgs) -> ExitCode {
    let (snapshot, mut problems) = source::yaml::load_paths(&args.files);
    let options = translate::Options {
        gateway_class: args.serving.gateway_class,
        controller_name: args.serving.controller_name,
        cluster_domain: args.serving.cluster_domain,
        ..translate::Options::default()
    };
    let translation = translate::translate(&snapshot, &options);
    let mut statuses = translation.statuses;
    statuses.extend(status::unreadable_objects(&problems, &statuses));
    problems.extend(translation.problems);
    for problem in &problems {
        eprintln!("{problem}");
    }
    print!("{}", status::render(&statuses));
    ExitCode::SUCCESS
}

/// Envoy may run with another working directory: always hand it an absolute path.
fn locate_filter(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return std::path::absolute(path).map_err(|e| format!("--filter {}: {e}", path.display()));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate llmgate itself: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [
        dir.join("llmgate_filter.wasm"),
        dir.join("../wasm32-wasip1/release/llmgate_filter.wasm"),
        dir.join("../../wasm32-wasip1/release/llmgate_filter.wasm"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .map(|c| std::fs::canonicalize(c).unwrap_or_else(|_| c.clone()))
        .ok_or_else(|| {
            format!(
                "llmgate_filter.wasm not found beside {} (build it with `make build`) — pass --filter PATH",
                exe.display()
            )
        })
}
