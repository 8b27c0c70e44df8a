//! Budgets that keep a few KB of hostile YAML from costing gigabytes or the stack.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Deepest nesting accepted, in scan and parse alike. Kubernetes objects, CRD schemas
/// included, stay far below it; the recursive tree builder stays far from the stack's end.
pub const MAX_DEPTH: usize = 200;

/// Nodes one document may expand to, aliases included.
pub const MAX_NODES: usize = 20_000_000;

/// What one node of a tree costs in memory, about, beyond its text: the weight aliases are
/// paid in (a value, a map entry, a string header).
pub const NODE_BYTES: usize = 64;

/// Aliases may add at most this many times the stream's size to its trees...
pub const ALIAS_EXPANSION: usize = 4;
/// ...plus this much: honest anchors (a shared block of labels, a list of env vars) never
/// come near, and a bomb stops early. A 1 MB stream's trees stay below 256 MB (tests/bombs.rs).
pub const ALIAS_ALLOWANCE: usize = 16 << 20;

/// What aliases may still copy into one stream's trees, shared by the threads reading it.
#[derive(Debug)]
pub struct AliasBudget {
    limit: usize,
    spent: AtomicUsize,
}

impl AliasBudget {
    /// The budget of a stream of `len` bytes: `ALIAS_EXPANSION × len + ALIAS_ALLOWANCE`.
    pub fn for_input(len: usize) -> Self {
        AliasBudget {
            limit: len
                .saturating_mul(ALIAS_EXPANSION)
                .saturating_add(ALIAS_ALLOWANCE),
            spent: AtomicUsize::new(0),
        }
    }

    /// Pays `bytes` for an alias's copy, or says why not.
    pub fn spend(&self, bytes: usize) -> Result<(), String> {
        let before = self.spent.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            return Err(format!(
                "aliases would copy more than {} MiB into the stream's documents ({ALIAS_EXPANSION} \
                 times its size plus {} MiB); refusing what looks like an alias bomb",
                self.limit >> 20,
                ALIAS_ALLOWANCE >> 20
            ));
        }
        Ok(())
    }
}
