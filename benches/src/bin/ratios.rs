//! Reads the estimates the `parse` bench saved and prints the README's table: throughput in
//! bytes/s and messages/s for every workload and baseline, and the ratios the targets are
//! stated in.
//!
//! Each figure comes twice: from criterion's estimate (what its console prints), and from the
//! fastest of its samples. On a machine shared with other work the estimate absorbs time the
//! bench spent descheduled; the fastest sample is the better guide to the code's own speed, and
//! a ratio that holds on both is not an artefact of load.
//!
//! Run after `cargo bench -p hl7fhir-benches`, with the same `CARGO_TARGET_DIR`:
//! `cargo run -p hl7fhir-benches --bin ratios --release [CRITERION_DIR]`. Without an argument
//! the criterion folder is `$CARGO_TARGET_DIR/criterion`, else the workspace's
//! `target/criterion`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use hl7fhir_benches::criterion_files::{criterion_dir, fastest_sample_ns, read_json};
use serde_json::Value;

/// Benchmark ids in table order, with what the table calls them.
const ROWS: &[(&str, &str)] = &[
    ("index", "hl7fhir index"),
    ("walk", "hl7fhir walk"),
    ("ten_fields", "hl7fhir ten_fields"),
    ("encode_tree", "hl7fhir encode_tree"),
    ("encode_exact", "hl7fhir encode_exact"),
    ("peer_hl7-parser_walk", "hl7-parser 0.3 walk"),
    ("peer_rust-hl7_walk", "rust-hl7 0.5 walk"),
    ("peer_hl7-v2_walk", "hl7-v2 0.1 walk"),
    // A `|` inside a table cell is escaped, even in code, or it splits the cell.
    ("scan_cr_bar_memchr", "baseline: memchr2 CR and `\\|`"),
    ("scan_five_delims", "baseline: five delimiters (byte sums)"),
    (
        "scan_five_delims_mask",
        "baseline: five delimiters (64-bit masks)",
    ),
    (
        "scan_five_delims_packed",
        "baseline: five delimiters (masks packed by multiply)",
    ),
    (
        "scan_five_delims_naive",
        "baseline: five delimiters (iterator count)",
    ),
];

const PEERS: &[&str] = &[
    "peer_hl7-parser_walk",
    "peer_rust-hl7_walk",
    "peer_hl7-v2_walk",
];

/// One benchmark's saved estimate.
struct Estimate {
    /// Nanoseconds per iteration (one pass over the corpus): point, lower and upper bound.
    ns: [f64; 3],
    /// Nanoseconds per iteration in the fastest sample.
    best_ns: f64,
    /// Bytes or messages per iteration, from the throughput criterion was given.
    per_iter: f64,
}

impl Estimate {
    fn per_second(&self) -> f64 {
        self.per_iter / (self.ns[0] * 1e-9)
    }

    fn best_per_second(&self) -> f64 {
        self.per_iter / (self.best_ns * 1e-9)
    }
}

/// Reads `<dir>/<group>/<id>/new/`; `None` when that benchmark was not run.
fn estimate(dir: &Path, group: &str, id: &str) -> Result<Option<Estimate>, String> {
    let new = dir.join(group).join(id).join("new");
    if !new.exists() {
        return Ok(None);
    }
    let est = read_json(&new.join("estimates.json"))?;
    // Criterion's headline time is the slope of the linear fit when it sampled linearly, and
    // the mean otherwise; use the same so the table matches its console output.
    let stat = est
        .get("slope")
        .filter(|s| !s.is_null())
        .or_else(|| est.get("mean"))
        .ok_or_else(|| format!("{}: no slope or mean", new.display()))?;
    let num = |v: Option<&Value>| v.and_then(Value::as_f64);
    let ci = stat.get("confidence_interval");
    let ns = [
        num(stat.get("point_estimate")),
        num(ci.and_then(|c| c.get("lower_bound"))),
        num(ci.and_then(|c| c.get("upper_bound"))),
    ];
    let [Some(p), Some(lo), Some(hi)] = ns else {
        return Err(format!("{}: estimate without bounds", new.display()));
    };
    let bench = read_json(&new.join("benchmark.json"))?;
    let tp = bench.get("throughput");
    let per_iter = tp
        .and_then(|t| t.get("Bytes").or_else(|| t.get("Elements")))
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no throughput", new.display()))?;
    let best_ns = fastest_sample_ns(&new)?;
    if !best_ns.is_finite() {
        return Err(format!("{}: no samples", new.display()));
    }
    Ok(Some(Estimate {
        ns: [p, lo, hi],
        best_ns,
        per_iter,
    }))
}

fn mib(bytes_per_s: f64) -> String {
    format!("{:.0}", bytes_per_s / (1024.0 * 1024.0))
}

fn run() -> Result<String, String> {
    let dir = criterion_dir();
    let mut out = String::new();
    let mut bytes = Vec::new();
    for (id, name) in ROWS {
        let b = estimate(&dir, "bytes", id)?;
        let m = estimate(&dir, "messages", id)?;
        if b.is_some() || m.is_some() {
            bytes.push((*id, *name, b, m));
        }
    }
    if bytes.is_empty() {
        return Err(format!(
            "no estimates under {}: run `cargo bench -p hl7fhir-benches` first",
            dir.display()
        ));
    }
    let rate = |id: &str, best: bool| {
        bytes
            .iter()
            .find(|r| r.0 == id)
            .and_then(|r| r.2.as_ref())
            .map(|e| {
                if best {
                    e.best_per_second()
                } else {
                    e.per_second()
                }
            })
    };
    let dash = || "—".to_string();

    let _ = writeln!(out, "Estimates from {}\n", dir.display());
    let _ = writeln!(
        out,
        "| workload | time per corpus pass, estimate (95% CI) | MiB/s | messages/s | fastest sample MiB/s | fastest sample messages/s |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for (_, name, b, m) in &bytes {
        let time = b.as_ref().map_or_else(dash, |e| {
            format!(
                "{:.3} ms ({:.3}–{:.3})",
                e.ns[0] / 1e6,
                e.ns[1] / 1e6,
                e.ns[2] / 1e6
            )
        });
        let _ = writeln!(
            out,
            "| {name} | {time} | {} | {} | {} | {} |",
            b.as_ref().map_or_else(dash, |e| mib(e.per_second())),
            m.as_ref()
                .map_or_else(dash, |e| format!("{:.0}", e.per_second())),
            b.as_ref().map_or_else(dash, |e| mib(e.best_per_second())),
            m.as_ref()
                .map_or_else(dash, |e| format!("{:.0}", e.best_per_second())),
        );
    }

    let fastest_peer = |best: bool| {
        PEERS
            .iter()
            .filter_map(|p| rate(p, best).map(|r| (*p, r)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    type Ratio = fn(&dyn Fn(&str) -> Option<f64>, Option<(&str, f64)>) -> Option<f64>;
    let ratios: [(&str, Ratio, f64, &str); 3] = [
        (
            "walk / five-delimiter scan (bytes/s)",
            |r, _| r("walk").zip(r("scan_five_delims")).map(|(w, l)| w / l),
            0.5,
            "≥ 50%",
        ),
        (
            "walk / fastest peer walk (bytes/s)",
            |r, peer| r("walk").zip(peer).map(|(w, p)| w / p.1),
            5.0,
            "≥ 5×",
        ),
        (
            "index / memchr2 CR-and-`\\|` scan (bytes/s)",
            |r, _| r("index").zip(r("scan_cr_bar_memchr")).map(|(i, s)| i / s),
            0.4,
            "≥ 40%",
        ),
    ];
    let show = |v: Option<f64>, target: f64| match v {
        Some(v) if target >= 1.0 => format!("{v:.2}×"),
        Some(v) => format!("{:.1}%", 100.0 * v),
        None => "not run".to_string(),
    };
    let _ = writeln!(
        out,
        "\n| ratio | from estimates | from fastest samples | target | met |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for (name, ratio, target, shown) in ratios {
        let est = ratio(&|id| rate(id, false), fastest_peer(false));
        let best = ratio(&|id| rate(id, true), fastest_peer(true));
        let met = match (est, best) {
            (Some(e), Some(b)) if e >= target && b >= target => "yes",
            (Some(e), Some(b)) if e < target && b < target => "**no**",
            (Some(_), Some(_)) => "on one basis only",
            _ => "—",
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {shown} | {met} |",
            show(est, target),
            show(best, target)
        );
    }
    let fastest_peer = fastest_peer(false);
    if let Some((id, _)) = fastest_peer {
        let _ = writeln!(out, "\nFastest peer: {id}.");
    }
    Ok(out)
}

fn main() -> ExitCode {
    match run() {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ratios: {e}");
            ExitCode::FAILURE
        }
    }
}
