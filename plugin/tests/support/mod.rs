//! Test support: the shared corpus and the Go reader that judges fidelity.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The repository root.
/// A configuration that changes every document: it adds the annotation `key: value`.
pub fn annotating(key: &str, value: &str) -> vf_plugin::Config {
    let mut config = vf_plugin::Config::default();
    config
        .transforms
        .common_annotations
        .insert(key.into(), value.into());
    config
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared` beside the checkout, or `$VF_SHARED`.
pub fn shared() -> PathBuf {
    std::env::var_os("VF_SHARED").map_or_else(|| repo().join("../shared"), PathBuf::from)
}

/// Every rendered stream of the corpus, Helm 3 and Helm 4 forms.
pub fn corpus() -> Vec<PathBuf> {
    let dir = shared().join("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 18, "the corpus has 9 charts in two forms");
    files
}

/// How Go reads a post-renderer's output.
#[derive(Debug, Clone, Copy)]
pub enum GoPath {
    /// apimachinery's split, then sigs.k8s.io/yaml: what Helm 3 and kubectl do.
    Helm3,
    /// Helm 4's kyaml split and yaml.v3 round trip first.
    Helm4,
}

/// Builds tests/go-reader once per test process (Debian's golang-go and go-yaml packages).
fn go_reader() -> &'static Path {
    static READER: OnceLock<PathBuf> = OnceLock::new();
    READER.get_or_init(|| {
        let out = repo().join("target/go-reader");
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("./tests/go-reader")
            .current_dir(repo())
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", repo().join("target/go-cache"))
            .status()
            .expect("`go` is needed for fidelity tests: run scripts/setup");
        assert!(status.success(), "building tests/go-reader failed");
        out
    })
}

/// The documents Go reads from `stream`, as JSON values.
pub fn go_read(path: GoPath, stream: &[u8]) -> Vec<Value> {
    let mode = match path {
        GoPath::Helm3 => "helm3",
        GoPath::Helm4 => "helm4",
    };
    let mut child = Command::new(go_reader())
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = stream.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "Go could not read the stream ({mode}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Equality as a JSON reader sees it: numbers compare by value (Go prints float 1.0 as `1`),
/// integers exactly.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (int(x), int(y)) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Asserts two document lists are the same, naming the first difference.
pub fn assert_same_docs(label: &str, expected: &[Value], actual: &[Value]) {
    assert_eq!(expected.len(), actual.len(), "{label}: document count");
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        assert!(
            same(e, a),
            "{label}: document {} differs\nexpected: {}\nactual:   {}",
            i + 1,
            truncate(e),
            truncate(a)
        );
    }
}

fn int(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 2000 {
        format!("{}…", &s[..2000])
    } else {
        s
    }
}
