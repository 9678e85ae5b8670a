//! A static Envoy bootstrap file that `envoy -c FILE` runs as is.

use std::path::Path;

use serde_json::Value;

/// YAML for people to read; Envoy parses it (JSON would do as well). Every
/// string is quoted: see `crate::yaml`.
pub fn render(bootstrap: &Value) -> String {
    crate::yaml::to_envoy_string(bootstrap)
}

pub fn write(bootstrap: &Value, path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    // A fresh file beside the target — O_EXCL, a random name, mode 0600 (it
    // holds API keys inside the filter configuration) — renamed over it: a
    // watching Envoy or user never sees half a file, and nothing is written
    // through a symlink someone planted at a predictable name.
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".llmgate-bootstrap-")
        .tempfile_in(dir)?;
    if path.extension().is_some_and(|e| e == "json") {
        // `FILE.json` gets JSON (Envoy picks the parser by extension),
        // streamed: for a large configuration many times faster than YAML,
        // and no second copy of it in memory.
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        serde_json::to_writer(&mut out, bootstrap)?;
        out.flush()?;
    } else {
        tmp.as_file_mut().write_all(render(bootstrap).as_bytes())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_owner_only_and_replaces_a_planted_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let out = dir.path().join("envoy.yaml");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("envoy.tmp")).unwrap();
        write(&serde_json::json!({"a": "yes"}), &out).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(!std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a: 'yes'\n");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3, "a temporary file was left behind");
    }
}
