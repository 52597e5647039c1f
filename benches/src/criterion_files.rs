//! Reading the figures criterion leaves under its output folder, for the tools that turn them
//! into the tables of `benches/README.md` (`ratios`, `writeback_figures`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The criterion output folder: the first argument, else `$CARGO_TARGET_DIR/criterion`, else
/// the workspace's `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    if let Some(arg) = std::env::args_os().nth(1) {
        return PathBuf::from(arg);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("criterion"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
    }
}

/// A JSON file, with its path in the error.
pub fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Nanoseconds per iteration of the fastest sample in a benchmark's `new/` folder (infinite
/// when it holds none): on a shared machine the least disturbed sample is the one to compare.
pub fn fastest_sample_ns(new: &Path) -> Result<f64, String> {
    let sample = read_json(&new.join("sample.json"))?;
    let column = |name: &str| {
        sample
            .get(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    Ok(column("iters")
        .iter()
        .zip(column("times"))
        .filter(|(iters, _)| **iters > 0.0)
        .map(|(iters, t)| t / iters)
        .fold(f64::INFINITY, f64::min))
}
