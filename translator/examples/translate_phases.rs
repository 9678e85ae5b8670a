//! Times each phase of `llmgate translate` on a folder (see bench/translate):
//! reading the YAML, the translation itself, rendering the bootstrap.
//! `cargo run --release -p llmgate-translator --example translate_phases -- DIR`

use std::time::Instant;

use llmgate_translator::{sink, source, translate};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: translate_phases DIR");
        std::process::exit(2);
    };
    let start = Instant::now();
    let (snapshot, problems) = source::yaml::load_paths(&[dir.into()]);
    let loaded = start.elapsed();
    let translation = translate::translate(&snapshot, &translate::Options::default());
    let translated = start.elapsed();
    let text = sink::bootstrap::render(&translation.bootstrap);
    let rendered = start.elapsed();
    println!(
        "load {:?} ({} problems), translate {:?}, render {:?} ({} MB)",
        loaded,
        problems.len() + translation.problems.len(),
        translated - loaded,
        rendered - translated,
        text.len() / 1_000_000
    );
}
