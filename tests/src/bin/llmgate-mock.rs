//! `llmgate-mock`: the mock LLM provider as a process, for `make run` and manual tests.
//!
//! ```text
//! llmgate-mock [--host 127.0.0.1] [--port 8081] [--api-key mock-azure-key] [--chunk-delay-ms 0]
//!              [--force-status N] [--tls-dns-name localhost]
//! ```

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use llmgate_e2e::mock::{MockConfig, MockProvider, DEFAULT_API_KEY};

/// A mock LLM provider: Azure OpenAI, OpenAI, Anthropic, Gemini, Vertex AI and Bedrock.
#[derive(Parser, Debug)]
#[command(name = "llmgate-mock", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8081)]
    port: u16,
    /// The API key to accept (`api-key` header or `Authorization: Bearer`).
    #[arg(long, default_value = DEFAULT_API_KEY)]
    api_key: String,
    /// Milliseconds between two SSE chunks.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Answer every request with this HTTP status and a provider-shaped error (failure injection).
    #[arg(long)]
    force_status: Option<u16>,
    /// Serve HTTPS with a certificate for this name, from a CA made at start (its
    /// PEM is printed, to be trusted by the client).
    #[arg(long)]
    tls_dns_name: Option<String>,
    /// The assistant's answer to OpenAI chat completions (default: a greeting).
    #[arg(long)]
    answer: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = MockConfig {
        api_key: args.api_key,
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        listen: SocketAddr::new(args.host, args.port),
        force_status: args.force_status,
        log_requests: true,
        tls_dns_name: args.tls_dns_name,
        answer: args
            .answer
            .unwrap_or_else(|| llmgate_e2e::mock::ASSISTANT_TEXT.to_owned()),
        ..MockConfig::default()
    };
    let mock = match MockProvider::start_blocking(config) {
        Ok(mock) => mock,
        Err(e) => {
            eprintln!(
                "llmgate-mock: cannot listen on {}:{}: {e}",
                args.host, args.port
            );
            return ExitCode::FAILURE;
        }
    };
    // A mock key: printing it is the point (so a developer can curl the mock).
    println!(
        "llmgate-mock listening on {} (accepts API key {:?})",
        mock.base_url(),
        mock.api_key()
    );
    if let Some(ca) = mock.ca_pem() {
        println!("llmgate-mock: its certificate is issued by this CA:\n{ca}");
    }
    loop {
        std::thread::park();
    }
}
