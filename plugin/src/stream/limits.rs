//! Budgets that keep a few KB of hostile YAML from costing gigabytes or the stack.

/// Deepest nesting accepted, in scan and parse alike. Kubernetes objects, CRD schemas
/// included, stay far below it; the recursive tree builder stays far from the stack's end.
pub const MAX_DEPTH: usize = 200;

/// Nodes one document may expand to, aliases included.
pub const MAX_NODES: usize = 20_000_000;

/// Parser events one document may produce.
pub const MAX_EVENTS: usize = 40_000_000;

/// Events replayed through aliases in one document: a billion-laughs bomb stops here.
pub const MAX_ALIAS_REPLAY: usize = 200_000;
