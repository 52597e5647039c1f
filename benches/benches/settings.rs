//! The criterion settings every bench here shares (`benches/README.md`, "Running"): 1 s of
//! warm-up, 3 s of measurement, 20 samples, so a whole `cargo bench` takes minutes on 2 cores.

use std::time::Duration;

use criterion::Criterion;

/// The shared settings.
pub fn modest() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}
