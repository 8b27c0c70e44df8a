//! Kubernetes admission policies in CEL, through the vf-post binary and the real CEL runtime
//! component (issue 15). tests/cel/<case>/ holds a configuration, its policy files and an
//! input; each case mirrors a scenario of the Kubernetes documentation (the case's
//! config.yaml says which) and records what the API server would do:
//!
//! - findings.txt: the policies' findings (`BLESS=1` rewrites it), one per line,
//!   `<document> <kind>/<name> <severity> <rule>: <message>`, and the built-in rules' findings
//!   a mutating policy brought about;
//! - output.yaml, when present: what `vf-post --audit` writes (mutating policies);
//! - error.txt, when present: the start of the one-line error a policy file that Kubernetes
//!   refuses, or vf-post cannot evaluate, ends in (exit 2).
//!
//! The `hostile-*` cases are attacks instead (each config.yaml says which): bombs, hidden
//! settings, tampered files, forged report lines.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vf-post");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// vf-post in `dir`, the compiled-component cache shared by every test of this file.
fn run(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    run_with(dir, args, stdin, &[])
}

/// [`run`], with variables `env` set.
fn run_with(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &Path)]) -> Output {
    let runtime = repo().join("target/x86_64-unknown-linux-gnu/release/vf-post-cel.wasm");
    assert!(
        runtime.exists(),
        "{} is missing: run scripts/build-wasm",
        runtime.display()
    );
    let state = repo().join("target/test-state/cel");
    std::fs::create_dir_all(&state).unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", state.join("cache"))
        .env("XDG_STATE_HOME", state.join("state"))
        .env_remove("HELM_PLUGIN_NAME")
        .env_remove("VF_POST_CONFIG")
        .env_remove("VF_POST_REPORT")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The policies' findings of a JSON report, one line each, and the built-in rules' findings
/// a mutating policy brought about (`introduced by`).
fn policy_findings(report: &str) -> String {
    let report: Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("{e}: {report}"));
    let mut lines = String::new();
    for f in report["findings"].as_array().unwrap() {
        let introduced: Vec<&str> = f["introducedBy"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["module"].as_str()).collect())
            .unwrap_or_default();
        if f["origin"] == "builtin" && introduced.is_empty() {
            continue;
        }
        let object = &f["object"];
        lines.push_str(&format!(
            "{} {}/{} {} {}: {}\n",
            object["document"],
            object["kind"].as_str().unwrap_or("-"),
            object["name"].as_str().unwrap_or("-"),
            f["severity"].as_str().unwrap(),
            f["rule"].as_str().unwrap(),
            inert(f["message"].as_str().unwrap()),
        ));
        if !introduced.is_empty() {
            lines.push_str(&format!("  introduced by {}\n", introduced.join(", ")));
        }
    }
    lines
}

/// Control characters as escapes, so that a blessed file shows what a hostile policy wrote.
fn inert(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            c if c.is_control() || c == '\u{202e}' => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn kubernetes_documentation_scenarios_come_out_as_the_api_server_decides() {
    let root = repo().join("tests/cel");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("config.yaml").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("input.yaml")).unwrap();
        let lint = run(
            case,
            &["lint", "--config", "config.yaml", "--format", "json", "-"],
            &input,
        );
        if let Ok(expected) = std::fs::read_to_string(case.join("error.txt")) {
            let err = text(&lint.stderr);
            let ok = lint.status.code() == Some(2)
                && lint.stdout.is_empty()
                && err.lines().count() == 1
                && err.contains(expected.trim());
            if !ok {
                failures.push(format!(
                    "{name}: expected exit 2 and {:?}, got {:?}: {err}",
                    expected.trim(),
                    lint.status.code()
                ));
            }
            continue;
        }
        if !matches!(lint.status.code(), Some(0 | 1)) {
            failures.push(format!(
                "{name}: exit {:?}: {}",
                lint.status.code(),
                text(&lint.stderr)
            ));
            continue;
        }
        let found = policy_findings(&text(&lint.stdout));
        let path = case.join("findings.txt");
        if bless {
            std::fs::write(&path, &found).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != found {
            failures.push(format!(
                "{name}: findings differ from findings.txt:\n{found}"
            ));
        }
        let output = case.join("output.yaml");
        if output.exists() {
            let render = run(
                case,
                &[
                    "--config",
                    "config.yaml",
                    "--audit",
                    "-q",
                    "--color",
                    "never",
                ],
                &input,
            );
            if bless {
                std::fs::write(&output, &render.stdout).unwrap();
            } else if std::fs::read(&output).unwrap() != render.stdout {
                failures.push(format!(
                    "{name}: output differs from output.yaml:\n{}{}",
                    text(&render.stdout),
                    text(&render.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A policy reading `object` whole, matching everything: with it, the runtime asks for whole
/// objects instead of the parts the other policies read.
const WHOLE_READER: &str = "\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: whole-reader.vf-post.test}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: ['*'], apiVersions: ['*'], operations: ['*'], resources: ['*']}]
  validations: [{expression: 'dyn(object) != null'}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: whole-reader}
spec: {policyName: whole-reader.vf-post.test, validationActions: [Deny]}
";

/// The host sends validating policies only the parts of each object their expressions select
/// (docs/cel.md): on every scenario, the verdicts equal those on whole objects, with either
/// engine.
#[test]
fn policies_sent_parts_of_objects_decide_as_on_whole_objects() {
    let root = repo().join("tests/cel");
    let mut compared = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let case = entry.unwrap().path();
        if !case.join("config.yaml").exists() || case.join("error.txt").exists() {
            continue;
        }
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("input.yaml")).unwrap();
        let lint = |config: &str, engine: &str| {
            let out = run(
                &case,
                &[
                    "lint", "--config", config, "--engine", engine, "--format", "json", "-",
                ],
                &input,
            );
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{name}: {}",
                text(&out.stderr)
            );
            policy_findings(&text(&out.stdout))
        };
        // The case's configuration with the whole reader beside every list of policy files.
        let config: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(case.join("config.yaml")).unwrap())
                .unwrap();
        let mut whole = config.clone();
        let reader = root.join("../../target/test-state/cel/whole-reader.yaml");
        std::fs::create_dir_all(reader.parent().unwrap()).unwrap();
        std::fs::write(&reader, WHOLE_READER).unwrap();
        let entry = serde_json::json!({"path": reader.canonicalize().unwrap()});
        // The configuration moves: its files' paths become absolute.
        let extend = |list: &mut Value| {
            let Some(list) = list.as_array_mut() else {
                return;
            };
            for item in list.iter_mut() {
                let path = case.join(item["path"].as_str().unwrap());
                item["path"] = Value::from(path.to_str().unwrap());
            }
            list.push(entry.clone());
        };
        if let Some(list) = whole.get_mut("policies") {
            extend(list);
        }
        for team in whole
            .get_mut("teams")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(list) = team.get_mut("policies") {
                extend(list);
            }
        }
        let whole_config = case
            .join("../../../target/test-state/cel")
            .join(format!("{name}.json"));
        std::fs::write(&whole_config, whole.to_string()).unwrap();
        let parts = lint("config.yaml", "native");
        // The engine as a component cuts the same parts.
        let in_sandbox = lint("config.yaml", "wasm");
        if in_sandbox != parts {
            failures.push(format!(
                "{name}: --engine wasm:\n{in_sandbox}native:\n{parts}"
            ));
        }
        let wholes: String = lint(whole_config.to_str().unwrap(), "native")
            .lines()
            .filter(|l| !l.contains("whole-reader"))
            .map(|l| format!("{l}\n"))
            .collect();
        if parts != wholes {
            failures.push(format!("{name}: parts:\n{parts}whole objects:\n{wholes}"));
        }
        compared += 1;
    }
    assert!(compared >= 25, "{compared} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_policy_cannot_forge_lines_of_the_text_report() {
    let case = repo().join("tests/cel/hostile-report-injection");
    let input = std::fs::read(case.join("input.yaml")).unwrap();
    let lint = run(
        &case,
        &["lint", "--config", "config.yaml", "--color", "never", "-"],
        &input,
    );
    assert_eq!(lint.status.code(), Some(1));
    // `lint` writes its report on stdout.
    let report = text(&lint.stdout) + &text(&lint.stderr);
    assert!(report.contains("forger.example.com"), "{report}");
    assert!(
        !report
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}'),
        "a control character reached the report: {report:?}"
    );
    assert!(!report.lines().any(|l| l.starts_with("::")), "{report}");
    let verdicts: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("vf-post:"))
        .collect();
    assert_eq!(
        verdicts,
        ["vf-post: denied: 12 errors, 6 warnings, 0 info in 2 objects"],
        "{report}"
    );
}

/// The documents a JSON report flags with `rule`.
fn flagged(report: &str, rule: &str) -> Vec<u64> {
    let report: Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("{e}: {report}"));
    let mut docs: Vec<u64> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .filter_map(|f| f["object"]["document"].as_u64())
        .collect();
    docs.sort_unstable();
    docs.dedup();
    docs
}

#[test]
fn the_dapr_policy_in_cel_decides_as_the_builtin_rule_on_every_chart() {
    let state = repo().join("target/test-state/cel");
    std::fs::create_dir_all(&state).unwrap();
    let policy = repo().join("policies/cel/dapr-enabled.yaml");
    std::fs::write(
        state.join("dapr-config.yaml"),
        format!("policies:\n  - path: {}\n", policy.display()),
    )
    .unwrap();
    let fixture = repo().join("tests/cel-dapr/input.yaml");
    let mut inputs = vec![fixture.clone()];
    for dir in [repo().join("../shared/corpus"), repo().join("tests/golden")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "yaml") {
                inputs.push(path);
            } else if path.join("input.yaml").exists() {
                inputs.push(path.join("input.yaml"));
            }
        }
    }
    let mut judged = 0;
    for input in &inputs {
        let bytes = std::fs::read(input).unwrap();
        let lint = run(
            &state,
            &[
                "lint",
                "--config",
                "dapr-config.yaml",
                "--format",
                "json",
                "-",
            ],
            &bytes,
        );
        if lint.status.code() == Some(2) {
            // The contract refuses some golden inputs before any rule runs.
            continue;
        }
        let report = text(&lint.stdout);
        let builtin = flagged(&report, "dapr-enabled-value");
        let cel = flagged(&report, "dapr-enabled.virtufin.io");
        assert_eq!(
            builtin,
            cel,
            "{}: the built-in rule and the policy disagree",
            input.display()
        );
        if input == &fixture {
            assert_eq!(cel, [1, 3, 4, 7, 9, 10], "{report}");
        }
        judged += 1;
    }
    assert!(judged >= 25, "only {judged} inputs judged");
}

/// The components vf-post ships judge every release in its name, so none comes from the
/// environment: variables naming another component (as older versions read them) change
/// nothing. The foreign one here is a policy module that would find nothing.
#[test]
fn no_variable_swaps_a_shipped_component_for_another() {
    let case = repo().join("tests/cel/vap-matching");
    let input = std::fs::read(case.join("input.yaml")).unwrap();
    let args = ["--config", "config.yaml", "--format", "json", "-"];
    let shipped = run(&case, &[&["lint"], &args[..]].concat(), &input);
    let foreign = repo().join("target/policies/require-labels.wasm");
    assert!(foreign.exists(), "run scripts/build-wasm");
    for engine in ["native", "wasm"] {
        let variables = [
            "VF_POST_CEL_WASM",
            "VF_POST_REGO_WASM",
            "VF_POST_ENGINE_WASM",
        ];
        let env: Vec<(&str, &Path)> = variables.iter().map(|v| (*v, foreign.as_path())).collect();
        let out = run_with(
            &case,
            &[&["lint", "--engine", engine], &args[..]].concat(),
            &input,
            &env,
        );
        assert_eq!(
            out.status.code(),
            shipped.status.code(),
            "{engine}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            policy_findings(&text(&out.stdout)),
            policy_findings(&text(&shipped.stdout)),
            "{engine}"
        );
        assert!(
            !policy_findings(&text(&out.stdout)).is_empty(),
            "the case finds something"
        );
    }
}
