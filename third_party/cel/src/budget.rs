//! vf-post: a cost budget for evaluation, in the spirit of Kubernetes' runtime CEL cost.
//!
//! Each expression node evaluated costs 1, each comprehension iteration 1, each list, map or
//! struct built its number of entries, and what `+` and functions produce their size (a list
//! or map its entries, a string or bytes one per 8 bytes). An evaluation that spends more than
//! its budget stops with [`ExecutionError::CostLimit`]. Without a budget, nothing is counted.

use crate::common::types::{CelBytes, CelList, CelMap, CelString};
use crate::common::value::Val;
use crate::ExecutionError;
use std::cell::Cell;

thread_local! {
    /// What the running evaluation may still spend, and its limit; `None` outside one.
    static LEFT: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Runs `f` with a budget of `limit` units: its result, and the units spent (up to the
/// limit, past which `f` ends in [`ExecutionError::CostLimit`]).
pub fn with_budget<T>(limit: u64, f: impl FnOnce() -> T) -> (T, u64) {
    let outer = LEFT.with(|l| l.replace(Some((limit, limit))));
    let result = f();
    let left = LEFT.with(|l| l.replace(outer));
    let spent = left.map_or(0, |(left, limit)| limit - left);
    (result, spent)
}

/// Spends `units`, or fails once the budget is gone.
#[inline]
pub(crate) fn charge(units: u64) -> Result<(), ExecutionError> {
    LEFT.with(|l| match l.get() {
        None => Ok(()),
        Some((left, limit)) => match left.checked_sub(units) {
            Some(rest) => {
                l.set(Some((rest, limit)));
                Ok(())
            }
            None => {
                l.set(Some((0, limit)));
                Err(ExecutionError::CostLimit(limit))
            }
        },
    })
}

/// Spends what `value` holds at its top level.
#[inline]
pub(crate) fn charge_size(value: &dyn Val) -> Result<(), ExecutionError> {
    charge(size(value))
}

/// A value's cost as a result: entries of a list or map, one per 8 bytes of a string.
pub(crate) fn size(value: &dyn Val) -> u64 {
    if let Some(s) = value.downcast_ref::<CelString>() {
        (s.inner().len() / 8) as u64
    } else if let Some(b) = value.downcast_ref::<CelBytes>() {
        (b.inner().len() / 8) as u64
    } else if let Some(l) = value.downcast_ref::<CelList>() {
        l.inner().len() as u64
    } else if let Some(m) = value.downcast_ref::<CelMap>() {
        m.inner().len() as u64
    } else {
        0
    }
}
