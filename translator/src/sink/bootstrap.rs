//! A static Envoy bootstrap file that `envoy -c FILE` runs as is.

use std::path::Path;

use serde_json::Value;

/// YAML for people to read; Envoy parses it (JSON would do as well). Every
/// string is quoted: see `crate::yaml`.
pub fn render(bootstrap: &Value) -> String {
    crate::yaml::to_envoy_string(bootstrap)
}

pub fn write(bootstrap: &Value, path: &Path) -> std::io::Result<()> {
    // Write then rename, so a watching Envoy or user never sees half a file.
    // The file holds API keys (inside the filter configuration): owner-only.
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    if path.extension().is_some_and(|e| e == "json") {
        // `FILE.json` gets JSON (Envoy picks the parser by extension),
        // streamed: for a large configuration many times faster than YAML,
        // and no second copy of it in memory.
        let mut out = std::io::BufWriter::new(&mut file);
        serde_json::to_writer(&mut out, bootstrap)?;
        out.flush()?;
    } else {
        file.write_all(render(bootstrap).as_bytes())?;
    }
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
