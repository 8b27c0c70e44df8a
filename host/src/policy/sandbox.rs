//! The sandbox every WebAssembly component runs in: one wasmtime engine, a time bound by
//! epoch interruption (a ticker thread advances the epoch every 10 ms), a memory cap by
//! `ResourceLimiter`, and a fresh `Store` for every call sequence.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};

/// Epoch tick: the granularity of time bounds.
const TICK: Duration = Duration::from_millis(10);

/// The process's wasmtime engine, with its epoch ticker.
pub fn engine() -> Result<&'static Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine);
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.parallel_compilation(true);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let engine = ENGINE.get_or_init(|| engine);
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("vf-post-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                ticker.increment_epoch();
            }
        })?;
    Ok(engine)
}

/// What a store holds: its limits, and whether they were hit.
pub struct Limits {
    memory_bytes: usize,
    /// Set when the component asked for more memory than allowed.
    pub memory_denied: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        self.memory_denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Bounds of one store.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Wall-clock limit; `None` for our own engine component.
    pub timeout: Option<Duration>,
    /// Linear memory limit.
    pub memory_bytes: usize,
}

/// A fresh store under `bounds`.
pub fn store(engine: &Engine, bounds: Bounds) -> Store<Limits> {
    let mut store = Store::new(
        engine,
        Limits {
            memory_bytes: bounds.memory_bytes,
            memory_denied: false,
        },
    );
    store.limiter(|limits| limits);
    let ticks = bounds.timeout.map_or(u64::MAX / 2, |t| {
        (t.as_millis() / TICK.as_millis()).max(1) as u64 + 1
    });
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// Why a component call failed, in words for the person reading the error.
pub fn explain(error: &wasmtime::Error, store: &Store<Limits>, bounds: Bounds) -> String {
    if store.data().memory_denied {
        return format!(
            "exceeded its memory limit of {} MiB (sandbox.memoryMib)",
            bounds.memory_bytes / (1024 * 1024)
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "ran longer than its time limit of {} ms (sandbox.timeoutMs) and was stopped",
            bounds.timeout.map_or(0, |t| t.as_millis())
        ),
        Some(Trap::UnreachableCodeReached) => "panicked (trap: unreachable)".into(),
        Some(Trap::StackOverflow) => "overflowed its stack".into(),
        Some(trap) => format!("trapped: {trap}"),
        None => format!("failed: {error}"),
    }
}
