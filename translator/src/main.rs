//! `llmgate`: the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use llmgate_translator::problem::Severity;
use llmgate_translator::{sink, source, translate};

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
    /// Serve only Gateways of this GatewayClass.
    #[arg(long)]
    gateway_class: Option<String>,
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
        filter_path,
        wasm_runtime: args.wasm_runtime,
        gateway_class: args.gateway_class,
        listen_address: args.listen_address,
        ca_bundle: args.ca_bundle,
        ..translate::Options::default()
    };
    let translation = translate::translate(&snapshot, &options);
    problems.extend(translation.problems);
    for problem in &problems {
        eprintln!("{problem}");
    }
    let written = match &args.output {
        Some(path) => sink::bootstrap::write(&translation.bootstrap, path)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            print!("{}", sink::bootstrap::render(&translation.bootstrap));
            Ok(())
        }
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if problems.iter().any(|p| p.severity == Severity::Error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
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
