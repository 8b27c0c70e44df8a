//! Golden cases: tests/golden/<case>/input.yaml (Helm 3 form) and an optional config.yaml give
//! expected.helm3.yaml, expected.helm4.yaml (the same input in Helm 4 form, derived here) and
//! report.txt (what the passes did), or error.txt. `BLESS=1 cargo test` rewrites them.
//! Every expected output must also come out unchanged from a second run.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use vf_plugin::{Config, Stream, document::SOURCE_ANNOTATION, render, stream::emit::emit};

/// Each case a test of its own, named after its directory: `cargo test --test golden -- <case>`
/// runs one.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let root = support::repo().join("tests/golden");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let bless = std::env::var_os("BLESS").is_some();
    let count = cases.len();
    let mut trials = vec![libtest_mimic::Trial::test(
        "golden cases are there",
        move || {
            if count >= 10 {
                Ok(())
            } else {
                Err(format!("only {count} golden cases").into())
            }
        },
    )];
    trials.extend(cases.into_iter().map(|case| {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        libtest_mimic::Trial::test(name, move || run(&case, bless).map_err(Into::into))
    }));
    libtest_mimic::run(&args, trials).exit();
}

fn run(case: &Path, bless: bool) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let input = std::fs::read_to_string(case.join("input.yaml")).unwrap();
    let config = match std::fs::read_to_string(case.join("config.yaml")) {
        Ok(text) => serde_saphyr::from_str::<Config>(&text).unwrap(),
        Err(_) => Config::default(),
    };
    let mut report = String::new();
    for (form, stream) in [("helm3", input.clone()), ("helm4", helm4_form(&input))] {
        match render(stream.into_bytes(), &config) {
            Ok(rendered) => {
                let out = String::from_utf8(rendered.output).unwrap();
                compare(case, &format!("expected.{form}.yaml"), &out, bless, &name)?;
                let again = render(out.clone().into_bytes(), &config).unwrap();
                if again.output != out.as_bytes() {
                    return Err(format!("{name} ({form}): a second run changed the output"));
                }
                if form == "helm3" {
                    for applied in &rendered.applied {
                        let source = applied.source.as_deref().unwrap_or("-");
                        writeln!(
                            report,
                            "{} {} ({source}): {}",
                            applied.pass, applied.object, applied.change
                        )
                        .unwrap();
                    }
                }
            }
            Err(error) => {
                compare(case, "error.txt", &format!("{error}\n"), bless, &name)?;
                return Ok(());
            }
        }
    }
    compare(case, "report.txt", &report, bless, &name)
}

fn compare(case: &Path, file: &str, actual: &str, bless: bool, name: &str) -> Result<(), String> {
    let path = case.join(file);
    if bless {
        std::fs::write(&path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    let ruler = "-".repeat(72);
    Err(format!(
        "{name}/{file} differs (BLESS=1 rewrites it)\n{ruler}\nexpected:\n{expected}{ruler}\nactual:\n{actual}{ruler}"
    ))
}

/// The same documents as Helm 4 hands them over: no `# Source:` lines, the template in the
/// postrender-filename annotation.
fn helm4_form(helm3: &str) -> String {
    let stream = Stream::read_all(helm3.as_bytes().to_vec()).unwrap();
    let mut out = String::new();
    for doc in stream.documents() {
        let mut value: Value = doc.value().unwrap().clone();
        if let (Some(source), Some(metadata)) = (&doc.source, value.get_mut("metadata")) {
            let annotations = metadata
                .as_object_mut()
                .unwrap()
                .entry("annotations")
                .or_insert_with(|| serde_json::json!({}));
            annotations[SOURCE_ANNOTATION] = Value::String(source.clone());
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(&emit(&value));
    }
    out
}
