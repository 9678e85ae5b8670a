//! Golden files: what every folder of `manifests/examples/` translates to (the
//! Envoy bootstrap `llmgate translate` writes, the problems it prints) and
//! what `llmgate status` says about it. A change to the translation shows up
//! as a reviewed diff of `tests/snapshots/`; `INSTA_UPDATE=always cargo test
//! -p llmgate-translator --test golden` rewrites them after a wanted change.

use std::path::{Path, PathBuf};

use llmgate_translator::{sink, source, status, translate};

/// A filter path that is the same on every machine: the bootstrap only names
/// it, nothing reads it here.
const FILTER_MODULE: &str = "/usr/lib/llmgate/llmgate_filter.wasm";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples")
}

fn example_folders() -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples_dir())? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// What the three outputs say, with the checkout's own path cut out of the
/// file names problems point at.
struct Golden {
    bootstrap: String,
    problems: String,
    status: String,
}

/// `llmgate translate --filter FILTER_MODULE` and `llmgate status` on one
/// example folder, through the library calls the binary makes.
fn golden(example: &str) -> Golden {
    let dir = examples_dir().join(example);
    let (snapshot, loading) = source::yaml::load_paths(std::slice::from_ref(&dir));

    let options = translate::Options {
        filter: llmgate_translator::ir::FilterCode::Local(PathBuf::from(FILTER_MODULE)),
        ..translate::Options::default()
    };
    let mut translation = translate::translate(&snapshot, &options);
    mask_secret_values(&mut translation.bootstrap);
    let problems: String = loading
        .iter()
        .chain(&translation.problems)
        .map(|p| format!("{p}\n"))
        .collect();

    let status_translation = translate::translate(&snapshot, &translate::Options::default());
    let mut statuses = status_translation.statuses;
    statuses.extend(status::unreadable_objects(&loading, &statuses));

    let machine_path = format!("{}/", examples_dir().display());
    let portable = |text: String| text.replace(&machine_path, "manifests/examples/");
    Golden {
        bootstrap: portable(sink::bootstrap::render(&translation.bootstrap)),
        problems: portable(problems),
        status: portable(status::render(&statuses)),
    }
}

/// The bootstrap's SDS secrets are the examples' keys: the golden files
/// show their names (what the clusters refer to) and `[redacted]` for their
/// values, as Envoy's `/config_dump` does, so no key is kept in a reviewed
/// file. The unit tests check the values.
fn mask_secret_values(bootstrap: &mut serde_json::Value) {
    let secrets = bootstrap
        .pointer_mut("/static_resources/secrets")
        .and_then(serde_json::Value::as_array_mut);
    for secret in secrets.into_iter().flatten() {
        if let Some(value) = secret.pointer_mut("/generic_secret/secret/inline_string") {
            *value = serde_json::Value::from("[redacted]");
        }
    }
}

#[test]
fn every_example_matches_its_golden_files() {
    let examples = example_folders().unwrap();
    assert!(
        examples.len() >= 3,
        "examples found: {examples:?} (azure-openai, broken, providers at least)"
    );
    for example in &examples {
        let golden = golden(example);
        assert!(
            !golden.bootstrap.contains(env!("CARGO_MANIFEST_DIR")),
            "{example}: the bootstrap names a path of this checkout"
        );
        insta::assert_snapshot!(format!("{example}-bootstrap"), golden.bootstrap);
        insta::assert_snapshot!(format!("{example}-problems"), golden.problems);
        insta::assert_snapshot!(format!("{example}-status"), golden.status);
    }
}

#[test]
fn translating_an_example_twice_gives_the_same_text() {
    for example in example_folders().unwrap() {
        let (first, second) = (golden(&example), golden(&example));
        assert_eq!(first.bootstrap, second.bootstrap, "{example}: bootstrap");
        assert_eq!(first.problems, second.problems, "{example}: problems");
        assert_eq!(first.status, second.status, "{example}: status");
    }
}
