//! Runs per-document work on every core, biggest documents first.
//!
//! Documents differ in size by three orders of magnitude (a CRD against a ServiceAccount), so
//! workers take the next document from a shared counter instead of a fixed share.

/// Applies `work` to every item whose weight is given by `weight`, in parallel where it pays.
/// Results come back in input order.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    weight: impl Fn(&T) -> usize + Sync,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let total: usize = items.iter().map(&weight).sum();
    let workers = workers(total, items.len());
    if workers <= 1 {
        return items.iter().map(work).collect();
    }
    run(items, &weight, &work, workers)
}

/// Below this many bytes a second thread costs more than it saves.
const MIN_PARALLEL_BYTES: usize = 256 * 1024;

#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
fn workers(total: usize, count: usize) -> usize {
    if total < MIN_PARALLEL_BYTES || count < 2 {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(count)
        .min(16)
}

#[cfg(not(all(feature = "parallel", not(target_arch = "wasm32"))))]
fn workers(_total: usize, _count: usize) -> usize {
    let _ = MIN_PARALLEL_BYTES;
    1
}

#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
fn run<T: Sync, R: Send>(
    items: &[T],
    weight: &(impl Fn(&T) -> usize + Sync),
    work: &(impl Fn(&T) -> R + Sync),
    workers: usize,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Deep documents recurse in the tree builder: give workers the main thread's stack.
    const STACK: usize = 64 * 1024 * 1024;
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(weight(&items[i])));
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let slot = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(slot) else {
                break done;
            };
            done.push((i, work(&items[i])));
        }
    };
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn_scoped(scope, take)
                    .expect("spawn a worker thread")
            })
            .collect();
        let mut parts = vec![take()];
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("worker panicked")),
        );
        parts
    });
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    for (i, result) in parts.drain(..).flatten() {
        slots[i] = Some(result);
    }
    slots
        .into_iter()
        .map(|r| r.expect("every item done"))
        .collect()
}

#[cfg(not(all(feature = "parallel", not(target_arch = "wasm32"))))]
fn run<T: Sync, R: Send>(
    items: &[T],
    _weight: &(impl Fn(&T) -> usize + Sync),
    work: &(impl Fn(&T) -> R + Sync),
    _workers: usize,
) -> Vec<R> {
    items.iter().map(work).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_input_order_whatever_the_schedule() {
        let items: Vec<usize> = (0..1000).collect();
        let out = super::map(&items, |&i| (i * 7919) % 1000 + 300, |&i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}
