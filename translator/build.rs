//! Embeds the protobuf descriptors of Envoy's API, so the ADS server can turn
//! the translator's JSON (proto3 JSON mapping, the same Envoy reads from a
//! bootstrap file) into the binary resources xDS sends.
//!
//! envoy-types ships them as `src/generated/types.bin` but does not export
//! them; `cargo metadata` tells where the package's sources are.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let source = envoy_types_dir().join("src/generated/types.bin");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");
    std::fs::copy(&source, out.join("envoy_descriptors.bin")).unwrap_or_else(|e| {
        panic!(
            "cannot copy Envoy descriptors from {}: {e}",
            source.display()
        )
    });
}

fn envoy_types_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    // Offline and for this platform only: everything it names is already
    // downloaded for this build.
    let target = std::env::var("TARGET").expect("TARGET");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &target,
        ])
        .current_dir(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata output");
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "envoy-types")
        .expect("envoy-types is a dependency");
    let manifest_path = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
    manifest_path.parent().expect("package dir").to_path_buf()
}
