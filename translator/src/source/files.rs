//! Which files a folder source reads: every `.yaml`/`.yml`/`.json` under the
//! given paths (folders recursively, in name order so the result is stable).
//! What cannot be read is reported and skipped, never fatal to the rest: an
//! unreadable file or subfolder, a FIFO, socket or device (reading one could
//! block forever), a symlink loop.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::problem::Problem;

/// The manifest files under `paths`; a path named here is read whatever its
/// extension.
pub fn manifest_files(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = HashSet::new();
    for path in paths {
        collect_files(path, true, &mut files, &mut folders, problems);
    }
    files
}

/// `named`: given on the command line (read whatever its extension).
fn collect_files(
    path: &Path,
    named: bool,
    out: &mut Vec<PathBuf>,
    folders: &mut HashSet<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    // Follows symlinks: a link to a file or folder counts as what it names.
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::error(format!(
                "cannot read {}: {e}",
                path.display()
            )));
            return;
        }
    };
    if metadata.is_dir() {
        // A folder reached twice (a symlink loop, or a link to a folder
        // already read) is read once.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !folders.insert(canonical) {
            problems.push(Problem::warning(format!(
                "skipped {}: a folder already read (symlink loop?)",
                path.display()
            )));
            return;
        }
        let entries = std::fs::read_dir(path).and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<Vec<_>, _>>()
        });
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(Problem::error(format!(
                    "cannot read folder {}: {e}",
                    path.display()
                )));
                return;
            }
        };
        entries.sort();
        for entry in entries {
            collect_files(&entry, false, out, folders, problems);
        }
        return;
    }
    let manifest_name = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    );
    if !(named || manifest_name) {
        return;
    }
    if metadata.is_file() {
        out.push(path.to_path_buf());
    } else {
        problems.push(Problem::warning(format!(
            "skipped {}: not a regular file",
            path.display()
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What cannot be read is reported and skipped; the rest is read.
    #[test]
    fn unreadable_entries_are_reported_and_skipped() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let secret = |name: &str| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{Authorization: k}}\n")
        };
        std::fs::write(root.join("a.yaml"), secret("a")).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b.yaml"), secret("b")).unwrap();
        // A loop back to the root, a dangling link, and a FIFO with a manifest's name.
        symlink(root, root.join("sub/loop")).unwrap();
        symlink(root.join("missing.yaml"), root.join("dangling.yaml")).unwrap();
        let fifo = root.join("pipe.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // An unreadable folder (root can read anything: only checked as non-root).
        std::fs::create_dir(root.join("locked")).unwrap();
        std::fs::write(root.join("locked/c.yaml"), secret("c")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        let locked_readable = std::fs::read_dir(root.join("locked")).is_ok();

        let (snapshot, problems) = {
            let mut problems = Vec::new();
            let files = manifest_files(&[root.to_path_buf()], &mut problems);
            let mut snapshot = crate::source::Snapshot::default();
            for f in files {
                crate::source::yaml::load_str(
                    &f,
                    &std::fs::read_to_string(&f).unwrap(),
                    &mut snapshot,
                    &mut problems,
                );
            }
            (snapshot, problems)
        };
        std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let mut names: Vec<&str> = snapshot.secrets.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        let mut want = vec!["a", "b"];
        if locked_readable {
            want.push("c");
        } else {
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("cannot read folder") && p.contains("locked")),
                "{problems:?}"
            );
        }
        assert_eq!(names, want, "{problems:?}");
        for expected in [
            "dangling.yaml",
            "pipe.yaml: not a regular file",
            "loop: a folder already read",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }
}
