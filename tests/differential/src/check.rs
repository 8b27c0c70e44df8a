//! One input judged: vf-post's reading and writing against Go's, one outcome class.
//!
//! The rule (issue 12): either vf-post exits 0 and every object reads in Go exactly as in the
//! input (apart from what vf-post meant to change), or it refuses with one line naming the
//! document, line and column. Refusing what Go reads is allowed (Go's reading is then the odd
//! one); anything else is a failure.

use serde_json::{Value, json};

use crate::judge::{Judge, Reading, Verdict};
use crate::ours::{Failure, Meta, Ours, TOUCH};

/// How one input came out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// vf-post accepted it and every check agreed with Go.
    Agree,
    /// vf-post and Kubernetes both refuse it.
    RefusedBoth,
    /// vf-post refuses what Kubernetes reads (allowed).
    RefusedOurs,
    /// Too deep for the judge to show Go's reading: not compared.
    Unknown,
    /// A failure: what went wrong, and where.
    Failure(String),
}

impl Class {
    pub fn label(&self) -> String {
        match self {
            Class::Agree => "agree".into(),
            Class::RefusedBoth => "refused by both".into(),
            Class::RefusedOurs => "refused by vf-post only".into(),
            Class::Unknown => "not comparable (too deep for the judge)".into(),
            Class::Failure(what) => format!("FAILURE {what}"),
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Class::Failure(_))
    }
}

pub struct Judged {
    pub class: Class,
    /// Why, for a failure.
    pub detail: String,
    /// Helm's split reads the input unlike apimachinery's (informational).
    pub helm_split_differs: bool,
}

pub fn check(input: &[u8], ours: &Ours, judge: &mut Judge) -> Judged {
    let given = judge.read(input);
    if given.k8s.unknown() {
        return Judged {
            class: Class::Unknown,
            detail: String::new(),
            helm_split_differs: false,
        };
    }
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut fail = |what: &str, detail: String| failures.push((what.to_owned(), detail));
    let k8s = given.k8s.ok().map(expand);

    for (what, run) in [
        ("read", &ours.read.as_ref().map(|_| ())),
        ("scan", &ours.metas.as_ref().map(|_| ())),
        ("pass-through", &ours.passthrough.as_ref().map(|_| ())),
        ("changed", &ours.changed.as_ref().map(|_| ())),
    ] {
        match run {
            Err(Failure::Panicked(message)) => fail(&format!("panic in {what}"), message.clone()),
            Err(Failure::Refused(message)) if !well_placed(message) => {
                fail(&format!("error without a place in {what}"), message.clone());
            }
            _ => {}
        }
    }

    match (&ours.read, &k8s) {
        (Ok(ours), Some(go)) if !same_docs(go, ours) => {
            fail("read differs", diff(go, ours));
        }
        (Ok(_), None) => fail("read accepts what Kubernetes refuses", reason(&given.k8s)),
        _ => {}
    }
    match (&ours.metas, &k8s) {
        (Ok(metas), Some(go)) => {
            let go: Vec<Meta> = go.iter().map(Meta::of).collect();
            if *metas != go {
                fail("scan differs", format!("go:   {go:?}\nours: {metas:?}"));
            }
        }
        (Ok(_), None) => fail("scan accepts what Kubernetes refuses", reason(&given.k8s)),
        _ => {}
    }
    if let Ok(out) = &ours.passthrough
        && out != input
    {
        fail(
            "pass-through changed the input",
            String::from_utf8_lossy(out).chars().take(400).collect(),
        );
    }
    if let Ok(out) = &ours.changed {
        match &k8s {
            None => fail(
                "changed accepts what Kubernetes refuses",
                reason(&given.k8s),
            ),
            Some(go) => match touched(go) {
                None => fail(
                    "changed replaced metadata.annotations that is not a mapping",
                    String::new(),
                ),
                Some(expected) => check_written(&given, &expected, out, judge, &mut fail),
            },
        }
    }

    let class = match failures.first() {
        Some((what, _)) => Class::Failure(what.clone()),
        None if ours.read.is_err() && ours.passthrough.is_err() && given.k8s.ok().is_none() => {
            Class::RefusedBoth
        }
        None if ours.read.is_err() || ours.passthrough.is_err() || ours.changed.is_err() => {
            Class::RefusedOurs
        }
        None => Class::Agree,
    };
    Judged {
        class,
        detail: failures
            .iter()
            .map(|(w, d)| format!("{w}: {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        helm_split_differs: match (given.k8s.ok(), given.helm.ok()) {
            (Some(a), Some(b)) => !same_docs(&expand(a), &expand(b)),
            (a, b) => a.is_some() != b.is_some(),
        },
    }
}

/// What was written with every object touched, read back along each path. apimachinery's
/// path must read exactly the expected documents; Helm's split and Helm 4's round trip must
/// too wherever they read the input as apimachinery did.
fn check_written(
    given: &Verdict,
    expected: &[Value],
    out: &[u8],
    judge: &mut Judge,
    fail: &mut impl FnMut(&str, String),
) {
    let written = judge.read(out);
    let agrees_with_k8s = |r: &Reading| matches!((given.k8s.ok(), r.ok()), (Some(a), Some(b)) if same_docs(&expand(a), &expand(b)));
    if written.k8s.unknown() {
        return;
    }
    for (path, reading, required) in [
        ("k8s", &written.k8s, true),
        ("helm", &written.helm, agrees_with_k8s(&given.helm)),
        ("helm4", &written.helm4, agrees_with_k8s(&given.helm4)),
    ] {
        if !required {
            continue;
        }
        match reading.ok() {
            None => fail(
                &format!("written stream unreadable on the {path} path"),
                format!(
                    "{}\n--- written\n{}",
                    reason(reading),
                    String::from_utf8_lossy(out)
                        .chars()
                        .take(600)
                        .collect::<String>()
                ),
            ),
            Some(docs) if !same_docs(expected, &expand(docs)) => fail(
                &format!("written stream reads differently on the {path} path"),
                diff(expected, &expand(docs)),
            ),
            Some(_) => {}
        }
    }
}

/// Every document with the touch annotation, as vf-post should write it; `None` where an
/// object's annotations are not a mapping (vf-post must refuse it).
fn touched(docs: &[Value]) -> Option<Vec<Value>> {
    let mut out = docs.to_vec();
    for doc in &mut out {
        let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) else {
            continue;
        };
        let annotations = meta.entry("annotations").or_insert(Value::Null);
        if annotations.is_null() {
            *annotations = json!({});
        }
        let map = annotations.as_object_mut()?;
        map.entry(TOUCH.0).or_insert_with(|| json!(TOUCH.1));
    }
    Some(out)
}

/// Objects with `items` become their items, as Kubernetes' client applies them.
fn expand(docs: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        if doc.get("items").is_some() {
            if let Some(items) = doc.get("items").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
        } else {
            out.push(doc.clone());
        }
    }
    out
}

/// An error a person can act on names the document, the line and the column, on one line.
fn well_placed(message: &str) -> bool {
    !message.contains('\n')
        && message.contains("document ")
        && message.contains("line ")
        && message.contains("column ")
}

fn reason(reading: &Reading) -> String {
    reading.error.clone().unwrap_or_default()
}

/// Equality as a JSON reader sees it: integers exactly, other numbers by value (Go writes
/// the float 1000.0 as `1000`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number(x) == number(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A number as JSON text denotes it: an integer exactly, or a float's bits.
#[derive(PartialEq)]
enum Num {
    Int(i128),
    Float(u64),
}

fn number(n: &serde_json::Number) -> Num {
    if let Some(i) = n.as_i64() {
        return Num::Int(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Num::Int(u.into());
    }
    let f = n.as_f64().expect("a JSON number");
    // Go writes integral floats below 1e21 as their shortest digits (`1.152921504606847e18`
    // as `1152921504606847000`, not its binary value); those digits are the value read.
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return Num::Int(format!("{f}").parse().expect("whole digits below 1e21"));
    }
    Num::Float(f.to_bits())
}

fn same_docs(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fn diff(go: &[Value], ours: &[Value]) -> String {
    let show = |v: &[Value]| {
        let text = serde_json::to_string(v).unwrap_or_default();
        text.chars().take(600).collect::<String>()
    };
    format!("go:   {}\nours: {}", show(go), show(ours))
}
