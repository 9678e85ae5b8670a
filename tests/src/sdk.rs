//! The providers' official Python SDKs as e2e clients: a test hands a Python
//! snippet to the project venv's interpreter (`.venv/bin/python`, where
//! `tests/sdk/install.sh` put the pinned `openai`, `anthropic`,
//! `google-genai` and `boto3`) and gets back the JSON it printed.
//!
//! The snippet runs with an empty environment plus what the test gives: no
//! `OPENAI_API_KEY`, proxy setting or `~/.aws` of the machine leaks in.
//! [`PRELUDE`] comes first: `emit(value)` prints the result.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::workspace_root;

/// Prepended to every snippet.
pub const PRELUDE: &str = r#"
import json, os, sys

def emit(value):
    """The snippet's result: one JSON line on stdout, read by the test."""
    print(json.dumps(value))
"#;

/// How long a snippet may run (SDK import included) before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The venv's Python: `LLMGATE_SDK_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    let path = std::env::var_os("LLMGATE_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        path.is_file(),
        "Python with the SDKs not found at {} — run `make sdk` (or `make e2e`)",
        path.display()
    );
    path
}

/// What the snippet printed and wrote.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs [`PRELUDE`] + `script` (on stdin) with exactly `env` (plus a few
/// settings that keep the interpreter and boto3 to themselves), for at most
/// [`TIMEOUT`]. Panics if it cannot start or times out.
pub fn run(script: &str, env: &[(&str, &str)]) -> Outcome {
    let home = tempfile::tempdir().expect("tempdir for HOME");
    let mut child = Command::new(python())
        .arg("-")
        .env_clear()
        .env("HOME", home.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        // boto3: no shared config or credentials files, no instance metadata.
        .env("AWS_CONFIG_FILE", home.path().join("aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", python().display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let code = format!("{PRELUDE}\n{script}");
    // Python reads the whole script before running it; a write error means it
    // exited early, which the exit status reports.
    let _ = stdin.write_all(code.as_bytes());
    drop(stdin);
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the SDK snippet did not finish within {TIMEOUT:?}:\n{script}\nstderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// [`run`], and the JSON of the last line the snippet printed; panics with
/// its stderr when it failed or printed none.
pub fn run_json(script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let outcome = run(script, env);
    assert!(
        outcome.success,
        "the SDK snippet failed:\n{script}\nstderr:\n{}\nstdout:\n{}",
        outcome.stderr, outcome.stdout
    );
    let last = outcome.stdout.lines().rfind(|l| !l.trim().is_empty());
    last.and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "the SDK snippet printed no JSON (emit(...)):\n{script}\nstdout:\n{}\nstderr:\n{}",
                outcome.stdout, outcome.stderr
            )
        })
}

/// Reads a pipe to the end on a thread of its own, so neither pipe fills up
/// while the other is read.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
