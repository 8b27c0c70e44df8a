//! `VF_POST_TIMINGS=1`: how long each phase took, on stderr. For finding where a slow
//! release spends its time; docs/BENCHMARKS.md uses it.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VF_POST_TIMINGS").is_some_and(|v| v == "1"))
}

/// Runs `f`, and reports its duration as `phase` when timings are on.
pub fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let started = Instant::now();
    let result = f();
    eprintln!(
        "vf-post timing: {name}: {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    result
}
