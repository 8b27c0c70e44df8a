//! go-yaml v2's guard against alias bombs, ported so that vf-post refuses what Kubernetes
//! refuses: a document whose decoding comes mostly from alias expansion fails with
//! "document contains excessive aliasing" (gopkg.in/yaml.v2 decode.go, `allowedAliasRatio`).
//!
//! Go counts every node it decodes, in document order, with each alias expanded where it
//! stands: the document node, each mapping key and value (a `<<` key aside), each sequence item,
//! each alias node and then every node of its target. Nodes inside an expansion also count as
//! aliased. Go checks the ratio at every node; within one expansion the ratio only rises and
//! the allowance only falls, so checking at each node outside expansions and at the end of
//! each expansion finds the same first failure.

use std::collections::HashMap;

/// Go's bounds: up to 400,000 decoded nodes 99% may come from aliases, from 4,000,000 on 10%,
/// scaled linearly in between; nothing is refused below 100 aliased or 1,000 decoded nodes.
const RANGE_LOW: u64 = 400_000;
const RANGE_HIGH: u64 = 4_000_000;

fn allowed_ratio(decoded: u64) -> f64 {
    if decoded <= RANGE_LOW {
        0.99
    } else if decoded >= RANGE_HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decoded - RANGE_LOW) as f64 / (RANGE_HIGH - RANGE_LOW) as f64)
    }
}

/// What Kubernetes says, for the error line.
pub const EXCESSIVE: &str = "document contains excessive aliasing: Kubernetes refuses a document decoded mostly from aliases";

/// The counts of one document, as go-yaml's decoder keeps them.
#[derive(Debug, Default)]
pub struct Aliasing {
    /// Nodes decoded so far, in the parser's order: what sizes are measured in.
    decoded: u64,
    /// Decoded and aliased nodes, in Go's order, as far as checked.
    checked: (u64, u64),
    /// Decoded nodes of each anchored node, aliases in it expanded.
    sizes: HashMap<usize, u64>,
    /// Each open collection: its anchor, the count before it, and whether Go decodes it.
    open: Vec<(usize, u64, bool)>,
    /// `<<` sequences being read, innermost last: Go merges their items last to first, so
    /// what each item adds is checked once the sequence ends, in Go's order.
    merges: Vec<Merge>,
}

/// A `<<` sequence being read: what each of its items added, item by item.
#[derive(Debug)]
struct Merge {
    /// How many collections are open inside it: its items open at this depth.
    depth: usize,
    items: Vec<Vec<(u64, u64)>>,
}

impl Aliasing {
    /// A document starts: Go decodes its document node first.
    pub fn document(&mut self) -> Result<(), &'static str> {
        *self = Aliasing::default();
        self.add(1, 0)
    }

    /// A scalar (a key or a value; never a `<<` key), with its anchor (0 for none).
    pub fn scalar(&mut self, anchor: usize) -> Result<(), &'static str> {
        self.item_starts();
        if anchor != 0 {
            self.sizes.insert(anchor, 1);
        }
        self.add(1, 0)
    }

    /// A collection opens. `decoded` is false for a sequence that is a `<<` key's value: Go
    /// merges its items one by one and never decodes the sequence itself.
    pub fn open(&mut self, anchor: usize, decoded: bool) -> Result<(), &'static str> {
        self.item_starts();
        self.open.push((anchor, self.decoded, decoded));
        if decoded {
            self.add(1, 0)
        } else {
            self.merges.push(Merge {
                depth: self.open.len(),
                items: Vec::new(),
            });
            Ok(())
        }
    }

    /// The innermost open collection closes.
    pub fn close(&mut self) -> Result<(), &'static str> {
        let Some((anchor, before, decoded)) = self.open.pop() else {
            return Ok(());
        };
        if anchor != 0 {
            // An alias to a merged sequence elsewhere decodes the sequence node too.
            let size = self.decoded - before + u64::from(!decoded);
            self.sizes.insert(anchor, size);
        }
        if !decoded {
            let merge = self.merges.pop().expect("a merged sequence was opened");
            for step in merge.items.into_iter().rev().flatten() {
                self.check(step)?;
            }
        }
        Ok(())
    }

    /// An alias: its own node, then its target expanded. An alias to an unknown or still open
    /// anchor is the caller's to refuse.
    pub fn alias(&mut self, id: usize) -> Result<(), &'static str> {
        self.item_starts();
        let size = self.sizes.get(&id).copied().unwrap_or(0);
        self.add(1 + size, size)
    }

    /// A node starts: if it is an item of the innermost `<<` sequence, a new item.
    fn item_starts(&mut self) {
        let depth = self.open.len();
        if let Some(merge) = self.merges.last_mut().filter(|m| m.depth == depth) {
            merge.items.push(Vec::new());
        }
    }

    fn add(&mut self, decoded: u64, aliased: u64) -> Result<(), &'static str> {
        self.decoded += decoded;
        self.check((decoded, aliased))
    }

    /// Go's check after a step; inside a `<<` sequence, kept for when it ends.
    fn check(&mut self, (decoded, aliased): (u64, u64)) -> Result<(), &'static str> {
        if let Some(item) = self.merges.last_mut().and_then(|m| m.items.last_mut()) {
            item.push((decoded, aliased));
            return Ok(());
        }
        self.checked.0 += decoded;
        self.checked.1 += aliased;
        let (decoded, aliased) = self.checked;
        if aliased > 100
            && decoded > 1000
            && aliased as f64 / decoded as f64 > allowed_ratio(decoded)
        {
            return Err(EXCESSIVE);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_scales_as_go_scales_it() {
        assert_eq!(allowed_ratio(1000), 0.99);
        assert_eq!(allowed_ratio(RANGE_HIGH), 0.10);
        let mid = allowed_ratio((RANGE_LOW + RANGE_HIGH) / 2);
        assert!((mid - 0.545).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn mostly_aliases_is_refused_and_a_few_are_not() {
        // A map of 10 pairs (21 nodes) aliased under keys: each key adds 1 key node, 1 alias
        // node and 21 aliased ones, 21/23 ≈ 91% at most: never refused.
        let mut go = Aliasing::default();
        go.document().unwrap();
        go.open(0, true).unwrap();
        go.scalar(0).unwrap();
        go.open(7, true).unwrap();
        for _ in 0..20 {
            go.scalar(0).unwrap();
        }
        go.close().unwrap();
        let mut refused = false;
        for _ in 0..10_000 {
            go.scalar(0).unwrap();
            if go.alias(7).is_err() {
                refused = true;
                break;
            }
        }
        assert!(!refused);
    }

    /// `l0: &l0 [x]`, then each level a list of ten aliases of the one before.
    fn laughs(levels: usize) -> Result<(), &'static str> {
        let mut go = Aliasing::default();
        go.document()?;
        go.open(0, true)?;
        go.scalar(0)?;
        go.open(1, true)?;
        go.scalar(0)?;
        go.close()?;
        for level in 1..=levels {
            go.scalar(0)?;
            go.open(level + 1, true)?;
            for _ in 0..10 {
                go.alias(level)?;
            }
            go.close()?;
        }
        go.close()?;
        Ok(())
    }

    #[test]
    fn billion_laughs_is_refused_where_go_refuses_it() {
        // Three levels: 3,540 of 3,581 nodes aliased (98.9%); four: 99.9%.
        assert_eq!(laughs(3), Ok(()));
        assert_eq!(laughs(4), Err(EXCESSIVE));
    }
}
