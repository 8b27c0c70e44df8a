//! Sending parts of objects changes no verdict: random expressions over `object` (selections,
//! optional chains, indexes, `has`, loops, `orValue`, equality, sizes) on random objects give
//! the same findings on the parts the runtime asks for (`reads::of`, cut as the host cuts them:
//! plugin/src/modules.rs `Fields`) as on whole objects. The reference is the same evaluator on
//! the whole object; the seed and case are printed on a difference.
//!
//! `VF_CEL_PARTS_CASES=N` runs N cases (default 3,000).

use serde_json::{Value as Json, json};
use vf_cel::evaluate::{Doc, evaluate};
use vf_cel::reads::{self, Step};
use vf_cel::settings::Phase;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: [&str; 5] = ["a", "b", "spec", "items", "name"];

fn scalar(rng: &mut Rng) -> Json {
    match rng.below(5) {
        0 => json!(rng.below(3)),
        1 => json!(*rng.pick(&["x", "y:1", ""])),
        2 => json!(rng.below(2) == 0),
        3 => Json::Null,
        _ => json!(1.5),
    }
}

fn value(rng: &mut Rng, depth: usize) -> Json {
    if depth == 0 {
        return scalar(rng);
    }
    match rng.below(6) {
        0 | 1 => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                map.insert((*rng.pick(&KEYS)).to_owned(), value(rng, depth - 1));
            }
            Json::Object(map)
        }
        2 | 3 => Json::Array((0..rng.below(4)).map(|_| value(rng, depth - 1)).collect()),
        _ => scalar(rng),
    }
}

fn object(rng: &mut Rng) -> Json {
    let mut object = match value(rng, 4) {
        Json::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    object.insert("apiVersion".into(), json!("v1"));
    object.insert("kind".into(), json!("Thing"));
    object.insert("metadata".into(), json!({"name": "t", "namespace": "ns"}));
    Json::Object(object)
}

fn literal(rng: &mut Rng) -> String {
    rng.pick(&[
        "0", "1", "'x'", "''", "true", "null", "[]", "{}", "{'a': 1}", "1.5",
    ])
    .to_string()
}

/// A chain of selections from `root`.
fn path(rng: &mut Rng, root: &str) -> String {
    let mut out = root.to_owned();
    for _ in 0..rng.below(4) {
        let key = rng.pick(&KEYS);
        out += &match rng.below(5) {
            0 | 1 => format!(".{key}"),
            2 => format!(".?{key}"),
            3 => format!("['{key}']"),
            _ => format!("[{}]", rng.below(2)),
        };
    }
    out
}

/// A boolean expression over `root` (`object`, or a loop variable).
fn boolean(rng: &mut Rng, root: &str, depth: usize) -> String {
    let p = path(rng, root);
    let var = format!("v{depth}");
    match rng.below(if depth > 2 { 8 } else { 15 }) {
        // Loop bodies that read nothing of their variable, or read the object around them.
        6 => "true".to_owned(),
        7 => boolean(rng, "object", 3),
        0 => format!("has({p}.{})", rng.pick(&KEYS)),
        1 => format!("{p} == {}", literal(rng)),
        2 => format!("{p} != {}", literal(rng)),
        3 => format!("{p}.size() > {}", rng.below(3)),
        4 => format!("{p}.orValue({}) == {}", literal(rng), literal(rng)),
        5 => format!("{p}.hasValue()"),
        13 => format!("{p}.all({var}, {})", boolean(rng, &var, depth + 1)),
        14 => format!("{p}.exists({var}, {})", boolean(rng, &var, depth + 1)),
        8 => format!(
            "{p}.filter({var}, {}).size() == {}",
            boolean(rng, &var, depth + 1),
            rng.below(2)
        ),
        9 => format!("{p}.exists_one({var}, {})", boolean(rng, &var, depth + 1)),
        10 => format!("{p}.map({var}, {}) == {}", path(rng, &var), literal(rng)),
        11 => format!(
            "{} && {}",
            boolean(rng, root, depth + 1),
            boolean(rng, root, depth + 1)
        ),
        _ => format!("!({})", boolean(rng, root, depth + 1)),
    }
}

/// The object cut to `parts` as the host cuts it: a path's end whole; of a map on the way the
/// fields on some path, of a list every item; a value that is not what the step reads (or a
/// map iterated as items) whole.
fn cut(value: &Json, paths: &[&[Step]]) -> Json {
    if paths.iter().any(|p| p.is_empty()) {
        return value.clone();
    }
    let under = |step: &Step| -> Vec<&[Step]> {
        paths
            .iter()
            .filter(|p| &p[0] == step)
            .map(|p| &p[1..])
            .collect()
    };
    let items = under(&Step::Items);
    match value {
        Json::Array(list) if !items.is_empty() => {
            Json::Array(list.iter().map(|v| cut(v, &items)).collect())
        }
        Json::Object(map) if items.is_empty() => Json::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let inner = under(&Step::Field(k.clone()));
                    (!inner.is_empty()).then(|| (k.clone(), cut(v, &inner)))
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

fn findings(expressions: &[String], objects: &[Json], parts: bool) -> Result<Vec<String>, String> {
    let validations: Vec<Json> = expressions
        .iter()
        .map(|e| json!({"expression": e}))
        .collect();
    let settings = json!({
        "phase": "validate",
        "sources": [
            {"file": "p.yaml", "object": {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": "p.example.com"},
                "spec": {
                    "matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"]}]},
                    "validations": validations,
                },
            }},
            {"file": "p.yaml", "object": {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": "p"},
                "spec": {"policyName": "p.example.com", "validationActions": ["Deny"]},
            }},
        ],
    })
    .to_string();
    let functions = vf_cel::functions();
    let (settings, set) = vf_cel::load(&settings, &functions)?;
    let wanted = reads::of(&set, Phase::Validate);
    let docs: Vec<Doc> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let sent = match (&wanted, parts) {
                (Some(p), true) => {
                    let paths: Vec<&[Step]> = p.paths.iter().map(Vec::as_slice).collect();
                    cut(o, &paths)
                }
                _ => o.clone(),
            };
            Doc::read(i as u32, "Thing", &sent.to_string(), &set, Phase::Validate).unwrap()
        })
        .collect();
    let verdict = evaluate(&functions, &set, &settings, &docs);
    Ok(verdict
        .findings
        .into_iter()
        .map(|f| format!("{} {}", f.document, f.message))
        .collect())
}

#[test]
fn parts_of_objects_give_the_verdicts_of_whole_objects() {
    let cases: usize = std::env::var("VF_CEL_PARTS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000);
    let seed = 0x5eed_2026_1130;
    let mut rng = Rng(seed);
    let mut compiled = 0;
    for case in 0..cases {
        let expressions: Vec<String> = (0..1 + rng.below(3))
            .map(|_| boolean(&mut rng, "object", 0))
            .collect();
        let objects: Vec<Json> = (0..3).map(|_| object(&mut rng)).collect();
        let whole = findings(&expressions, &objects, false);
        let Ok(whole) = whole else {
            continue; // refused at load (a function vf-post lacks): nothing to compare
        };
        compiled += 1;
        let parts = findings(&expressions, &objects, true).unwrap();
        assert_eq!(
            parts, whole,
            "seed {seed:#x}, case {case}: {expressions:#?}\non {objects:#?}"
        );
    }
    assert!(
        compiled * 2 > cases,
        "only {compiled} of {cases} cases compiled"
    );
}
