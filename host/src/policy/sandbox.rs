//! The sandbox every WebAssembly component runs in: one wasmtime engine, a time bound by
//! epoch interruption (a ticker thread advances the epoch every 10 ms), one memory budget per
//! store covering every linear memory and table together (a component may hold several), caps
//! on how many instances, memories and tables it may make, and a fresh `Store` for every call
//! sequence.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;
use wasmtime::{Config, Engine, ResourceLimiter, Store, Strategy, Trap};

/// wasmtime's default stack for WebAssembly frames (`Config::max_wasm_stack`).
const DEFAULT_WASM_STACK: usize = 512 * 1024;

/// Epoch tick: the granularity of time bounds.
const TICK: Duration = Duration::from_millis(10);

/// What a table element costs the host, for the memory budget (a function reference and its
/// bookkeeping).
const TABLE_ELEMENT_BYTES: usize = 16;

/// Core instances, memories and tables one store may hold. Components from Rust, Python
/// (componentize-py) and JavaScript (componentize-js) stay well below.
const MAX_INSTANCES: usize = 64;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 64;

/// The compiler an engine uses. Each has its own engine: a component runs only in the engine
/// that compiled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift, the optimizing compiler.
    Cranelift,
    /// Winch, the baseline compiler.
    Winch,
}

impl Compiler {
    /// Its name, as `sandbox.compiler` and the reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compiler::Cranelift => "cranelift",
            Compiler::Winch => "winch",
        }
    }
}

static ENGINES: [OnceLock<Engine>; 2] = [OnceLock::new(), OnceLock::new()];
static TICKER: OnceLock<std::io::Result<()>> = OnceLock::new();

/// The process's Cranelift engine (our own engine component, and every module by default).
pub fn engine() -> Result<&'static Engine> {
    engine_of(Compiler::Cranelift)
}

/// The process's engine for `compiler`. One ticker thread advances the epoch of every engine
/// made: without it no time bound would hold, so an engine is refused if it cannot start.
pub fn engine_of(compiler: Compiler) -> Result<&'static Engine> {
    let slot = &ENGINES[compiler as usize];
    if let Some(engine) = slot.get() {
        return Ok(engine);
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.parallel_compilation(true);
    if compiler == Compiler::Winch {
        config.strategy(Strategy::Winch);
        // Winch keeps locals and operands in memory: its frames are about twice Cranelift's.
        // Twice the stack keeps the recursion depth a module gets the same under both.
        config.max_wasm_stack(2 * DEFAULT_WASM_STACK);
    }
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let engine = slot.get_or_init(|| engine);
    let ticker = TICKER.get_or_init(|| {
        std::thread::Builder::new()
            .name("vf-post-epoch".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TICK);
                    for engine in ENGINES.iter().filter_map(OnceLock::get) {
                        engine.increment_epoch();
                    }
                }
            })
            .map(drop)
    });
    if let Err(e) = ticker {
        anyhow::bail!("cannot start the sandbox's clock thread: {e}");
    }
    Ok(engine)
}

/// What a store holds: its budget, what it has used, and whether a limit was hit.
pub struct Limits {
    budget: usize,
    /// Bytes of every memory and table together.
    used: usize,
    /// Set when the component asked for more than its budget.
    pub memory_denied: bool,
}

impl Limits {
    /// Charges growth from `current` to `desired` bytes against the budget.
    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let used = self.used.saturating_sub(current).saturating_add(desired);
        if used > self.budget {
            self.memory_denied = true;
            return false;
        }
        self.used = used;
        true
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        ))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// Bounds of one store, and of loading a module.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Wall-clock limit; `None` for our own engine component.
    pub timeout: Option<Duration>,
    /// Every linear memory and table of the store together.
    pub memory_bytes: usize,
    /// The largest module file loaded.
    pub module_bytes: usize,
    /// The longest a module may take to compile.
    pub compile_timeout: Duration,
    /// Which compiler compiles a module the cache does not hold.
    pub compiler: vf_plugin::config::Compiler,
    /// Findings one evaluation may return.
    pub max_findings: usize,
    /// Patches one evaluation may return.
    pub max_patches: usize,
}

/// A fresh store under `bounds`.
pub fn store(engine: &Engine, bounds: Bounds) -> Store<Limits> {
    let mut store = Store::new(
        engine,
        Limits {
            budget: bounds.memory_bytes,
            used: 0,
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
            "exceeded its memory limit of {} MiB, all memories and tables together (sandbox.memoryMib)",
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
        None => {
            let text = format!("{error:#}");
            if text.contains("resource limit exceeded") {
                format!(
                    "made more than {MAX_INSTANCES} instances, {MAX_MEMORIES} memories or {MAX_TABLES} tables: {text}"
                )
            } else {
                format!("failed: {text}")
            }
        }
    }
}
