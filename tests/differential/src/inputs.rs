//! Where inputs come from, by family: the YAML test suite (as-is and wrapped into Kubernetes
//! objects), the traps (every odd character and scalar in every place of one object), the
//! regressions found so far, and mutants of the real corpus.

use std::path::Path;

use serde::Deserialize;

use crate::mutate::{self, KEY_TRAPS, ODD, TRAPS};
use crate::rng::Rng;

pub struct Case {
    pub family: &'static str,
    pub name: String,
    pub input: Vec<u8>,
}

/// One case of the YAML test suite, as scripts/setup extracts it from the npm package.
#[derive(Deserialize)]
pub struct SuiteCase {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub yaml: String,
}

pub fn load_suite(path: &Path) -> Result<Vec<SuiteCase>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e} (scripts/setup extracts the YAML test suite)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every suite case as the document, under a ConfigMap's `data:`, and deep in a pod spec.
pub fn suite(cases: &[SuiteCase]) -> Vec<Case> {
    let mut out = Vec::new();
    for case in cases {
        let name = format!("{} {}", case.id, case.name);
        out.push(Case {
            family: "suite/as-is",
            name: name.clone(),
            input: case.yaml.clone().into_bytes(),
        });
        out.push(Case {
            family: "suite/under-data",
            name: name.clone(),
            input: format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: suite\ndata:\n  value:\n{}",
                indent(&case.yaml, 4)
            )
            .into_bytes(),
        });
        out.push(Case {
            family: "suite/in-spec",
            name,
            input: format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: suite\nspec:\n  template:\n    spec:\n      value:\n{}",
                indent(&case.yaml, 8)
            )
            .into_bytes(),
        });
    }
    out
}

fn indent(text: &str, width: usize) -> String {
    let pad = " ".repeat(width);
    text.split_inclusive('\n')
        .map(|l| {
            if l.trim_end_matches(['\n', '\r']).is_empty() {
                l.to_owned()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect()
}

/// One pod, whose every line gets every odd character and whose values and keys get every trap.
const BASE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: trap
  namespace: demo
  labels:
    team: payments
  annotations:
    note: plain
spec:
  hostNetwork: false
  containers:
    - name: app
      image: harbor.example/app:1.0
      securityContext:
        privileged: false
";

pub fn traps() -> Vec<Case> {
    let lines: Vec<&str> = BASE.split_inclusive('\n').collect();
    let with = |i: usize, line: String| {
        let mut all: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        all[i] = line;
        all.concat().into_bytes()
    };
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let body = line.trim_end_matches('\n');
        for odd in ODD {
            let shown = format!("{odd:?}");
            for (place, text) in [
                ("joins the next line", format!("{body}{odd}")),
                ("starts the line", format!("{odd}{line}")),
                ("ends the line", format!("{body}{odd}\n")),
                (
                    "after the colon",
                    match body.find(": ") {
                        Some(c) => format!("{}{odd}{}\n", &body[..c + 2], &body[c + 2..]),
                        None => format!("{body} #{odd}\n"),
                    },
                ),
                ("in a comment", format!("{body} # note{odd}x\n")),
            ] {
                out.push(Case {
                    family: "traps",
                    name: format!("{shown} {place}, line {}", i + 1),
                    input: with(i, text),
                });
            }
        }
        if let Some(c) = body.find(": ") {
            let indent = body.len() - body.trim_start().len();
            for trap in TRAPS {
                let pad = " ".repeat(indent + 2);
                out.push(Case {
                    family: "traps",
                    name: format!("value {trap:?}, line {}", i + 1),
                    input: with(
                        i,
                        format!(
                            "{}{}\n",
                            &body[..c + 2],
                            trap.replace('\n', &format!("\n{pad}"))
                        ),
                    ),
                });
            }
            for key in KEY_TRAPS {
                out.push(Case {
                    family: "traps",
                    name: format!("key {key:?}, line {}", i + 1),
                    input: with(i, format!("{}{key}{}\n", &body[..indent], &body[c..])),
                });
            }
        }
    }
    out
}

/// The regression cases under `dir` (every disagreement found becomes one).
pub fn regressions(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| Case {
            family: "regressions",
            name: p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            input: std::fs::read(&p).unwrap_or_default(),
        })
        .collect()
}

/// The corpus's documents, by file, each with its `---` line and header.
pub struct Corpus {
    files: Vec<(String, Vec<String>)>,
}

impl Corpus {
    pub fn load(dir: &Path) -> Result<Corpus, String> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let chunks = vf_plugin::stream::split::split(&text).map_err(|e| e.message)?;
            let docs = chunks.iter().map(|c| c.text(&text).to_owned()).collect();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.push((name, docs));
        }
        Ok(Corpus { files })
    }

    /// One to three neighbouring documents of a corpus file, mutated one to four times.
    pub fn mutant(&self, rng: &mut Rng, splice: &[String], n: usize) -> Case {
        let (file, docs) = rng.pick(&self.files);
        let start = rng.below(docs.len());
        let end = (start + 1 + rng.below(3)).min(docs.len());
        let text = docs[start..end].concat();
        let count = 1 + rng.below(4);
        Case {
            family: "corpus/mutant",
            name: format!("{file} documents {}..{} mutant {n}", start + 1, end),
            input: mutate::mutate(&text, count, rng, splice),
        }
    }
}
