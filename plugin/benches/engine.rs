//! Engine phases in process (criterion): reading, writing and whole renders, on a stream
//! built from the corpus and on chart/'s render (target/bench/chart.yaml, made by benches/run.py).
//!   cargo bench -p vf-plugin --bench engine

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vf_plugin::{Config, Plan, Stream, render};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The corpus twice over (about 12 MB): Helm 3 and Helm 4 forms.
fn stream() -> Vec<u8> {
    let dir = std::env::var_os("VF_SHARED")
        .map_or_else(|| repo().join("../shared"), PathBuf::from)
        .join("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for _ in 0..2 {
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            out.push_str("---\n");
            out.push_str(text.trim_start_matches("---\n"));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out.into_bytes()
}

fn touch_all() -> Config {
    let mut config = Config::default();
    config
        .transforms
        .common_annotations
        .insert("example.com/touched".into(), "yes".into());
    config
}

fn engine(c: &mut Criterion) {
    let input = stream();
    let mut group = c.benchmark_group("stream");
    group
        .sample_size(10)
        .throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("read: scan every document", |b| {
        b.iter(|| {
            Stream::read(
                input.clone(),
                &Plan {
                    keep: &|_, _| false,
                    is_contract: vf_plugin::contract::is_contract,
                    local: None,
                },
            )
            .unwrap()
        });
    });
    group.bench_function("read: build every document", |b| {
        b.iter(|| Stream::read_all(input.clone()).unwrap());
    });
    group.bench_function("render: pass-through (rules on)", |b| {
        b.iter(|| render(input.clone(), &Config::default()).unwrap());
    });
    let touch = touch_all();
    group.bench_function("render: every document changed", |b| {
        b.iter(|| render(input.clone(), &touch).unwrap());
    });
    group.finish();

    let chart = repo().join("target/bench/chart.yaml");
    let chart = std::fs::read(&chart)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/bench", chart.display()));
    let mut group = c.benchmark_group("chart");
    group.throughput(Throughput::Bytes(chart.len() as u64));
    group.bench_function("render chart/ (contract, passes, rules)", |b| {
        b.iter(|| render(chart.clone(), &Config::default()).unwrap());
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
