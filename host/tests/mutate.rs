//! Mutate, then validate (issue 13), with a real compiled mutating module (the `patcher`
//! fixture of policies/, built by scripts/build-wasm): whatever a mutating module adds is
//! denied like anything in the chart, in render and lint, natively and with `--engine wasm`;
//! its patches are bounded and read strictly; rule ids are unique across modules.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_vf-post");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn module(name: &str) -> PathBuf {
    let path = repo().join("target/policies").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-wasm",
        path.display()
    );
    path
}

fn sha(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// A compliant Deployment: no finding without a mutation.
const WEB: &str = "---
# Source: t/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: harbor.example.io/app:1.0
          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 64Mi}}
          securityContext: {runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false}
          livenessProbe: {httpGet: {path: /health, port: 8080}}
          readinessProbe: {httpGet: {path: /health, port: 8080}}
";

struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("vf-post-mutate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { dir }
    }

    /// A configuration running the patcher with `patches` (JSON), allowed to mutate.
    fn patcher(&self, patches: &str, extra: &str) -> PathBuf {
        let path = module("patcher");
        let text = format!(
            "registries:\n  allowed: [harbor.example.io]\n{extra}modules:\n  - path: {}\n    sha256: {}\n    mutate: true\n    settings: {{\"patches\": {patches}}}\n",
            path.display(),
            sha(&path)
        );
        let config = self.dir.join("vf-post.yaml");
        std::fs::write(&config, text).unwrap();
        config
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env_remove("HELM_PLUGIN_NAME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let bytes = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const CONTAINER: &str = "/spec/template/spec/containers/0";

/// Each setting a built-in rule denies, brought in by a mutating module: (rule, operations).
fn mutations() -> Vec<(&'static str, String)> {
    vec![
        ("not-privileged", format!(r#"[{{"op":"add","path":"{CONTAINER}/securityContext/privileged","value":true}}]"#)),
        ("no-host-path", r#"[{"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"root","hostPath":{"path":"/"}}]}]"#.into()),
        ("no-host-network", r#"[{"op":"add","path":"/spec/template/spec/hostNetwork","value":true}]"#.into()),
        ("image-tag-pinned", format!(r#"[{{"op":"replace","path":"{CONTAINER}/image","value":"harbor.example.io/app:latest"}}]"#)),
        ("image-registry-allowed", format!(r#"[{{"op":"replace","path":"{CONTAINER}/image","value":"evil.example.com/app:1.0"}}]"#)),
        ("run-as-non-root", r#"[{"op":"add","path":"/spec/template/spec/containers/-","value":{"name":"sidecar","image":"harbor.example.io/side:1.0","securityContext":{"runAsUser":0,"allowPrivilegeEscalation":false},"resources":{"requests":{"cpu":"1m","memory":"1Mi"},"limits":{"cpu":"1m","memory":"1Mi"}},"livenessProbe":{"exec":{"command":["true"]}},"readinessProbe":{"exec":{"command":["true"]}}}}]"#.into()),
        ("no-privilege-escalation", format!(r#"[{{"op":"remove","path":"{CONTAINER}/securityContext"}}]"#)),
    ]
}

#[test]
fn whatever_a_mutating_module_adds_is_denied_in_render_and_lint_native_and_wasm() {
    let env = Env::new("denied");
    for (rule, ops) in mutations() {
        let patches = format!(r#"[{{"kind": "Deployment", "operations": {ops}}}]"#);
        let config = env.patcher(&patches, "");
        let config = config.to_str().unwrap();
        for engine in ["native", "wasm"] {
            for lint in [false, true] {
                let mut args = vec!["--config", config, "--engine", engine, "--format", "json"];
                if lint {
                    args.insert(0, "lint");
                }
                let out = env.run(&args, WEB.as_bytes());
                let report = if lint { &out.stdout } else { &out.stderr };
                let label = format!(
                    "{rule} ({engine}, {})",
                    if lint { "lint" } else { "render" }
                );
                assert_eq!(out.status.code(), Some(1), "{label}: {}", stderr(&out));
                if !lint {
                    assert!(
                        out.stdout.is_empty(),
                        "{label}: a denied release writes nothing"
                    );
                }
                let report: serde_json::Value = serde_json::from_slice(report)
                    .unwrap_or_else(|e| panic!("{label}: {e}: {}", stderr(&out)));
                let finding = report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["rule"] == rule)
                    .unwrap_or_else(|| panic!("{label}: no {rule} finding: {report}"));
                assert_eq!(finding["severity"], "error", "{label}");
                assert_eq!(
                    finding["introducedBy"][0]["module"], "patcher",
                    "{label}: the finding names the mutation: {finding}"
                );
            }
        }
    }
}

#[test]
fn without_mutate_a_patch_is_reported_and_the_release_passes() {
    let env = Env::new("proposed");
    let (_, ops) = &mutations()[0];
    let config = env.patcher(
        &format!(r#"[{{"kind": "Deployment", "operations": {ops}}}]"#),
        "",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("mutate: true", "mutate: false");
    std::fs::write(&config, text).unwrap();
    let out = env.run(&["--config", config.to_str().unwrap()], WEB.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, WEB.as_bytes(), "nothing changed");
}

/// Dapr app ids and services.json come after the last mutation: a patch cannot leave them
/// stale, and a duplicated app id is denied.
#[test]
fn derived_values_follow_the_last_mutation() {
    let env = Env::new("derived");
    let chart = repo().join("tests/golden/full-release/input.yaml");
    let input = std::fs::read(&chart).unwrap();
    // A patch on the services.json ConfigMap: it does not exist yet when modules mutate.
    let config = env.patcher(
        r#"[{"kind": "ConfigMap", "name": "virtufin-services", "operations": [{"op": "add", "path": "/data/services.json", "value": "{}"}]}]"#,
        "",
    );
    let out = env.run(
        &[
            "--config",
            config.to_str().unwrap(),
            "--audit",
            "--format",
            "json",
        ],
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plain = env.run(&["--audit", "-q"], &input);
    assert_eq!(
        out.stdout, plain.stdout,
        "services.json and its checksum are vf-post's"
    );
    // A backend's app id changed by a patch: services.json lists the new one, and the
    // gateway's checksum follows.
    let config = env.patcher(
        r#"[{"kind": "Deployment", "name": "worker", "operations": [{"op": "replace", "path": "/spec/template/metadata/annotations/dapr.io~1app-id", "value": "worker-2"}]}]"#,
        "",
    );
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--audit", "-q"],
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = String::from_utf8(out.stdout).unwrap();
    assert!(written.contains(r#""daprAppId": "worker-2""#), "{written}");
    let checksum = |text: &str| {
        text.lines()
            .find(|l| l.contains("checksum/services-json"))
            .map(str::to_owned)
    };
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(checksum(&written).is_some());
    assert_ne!(checksum(&written), checksum(&plain));
    // Two workloads given one Dapr app id by a patch: denied, naming the patch.
    let config = env.patcher(
        r#"[{"kind": "Deployment", "operations": [{"op": "replace", "path": "/spec/template/metadata/annotations/dapr.io~1app-id", "value": "same"}]}]"#,
        "",
    );
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        &input,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "dapr-app-id-unique"),
        "{report}"
    );
}

#[test]
fn patches_are_bounded_and_read_strictly() {
    let env = Env::new("budgets");
    let argo = std::fs::read(
        std::env::var_os("VF_SHARED")
            .map_or_else(|| repo().join("../shared"), PathBuf::from)
            .join("corpus/argo-cd.helm3.yaml"),
    )
    .unwrap();
    // 5,000 small patches on argo-cd's largest documents: one copy of each, fast.
    let config = env.patcher(
        r#"[{"kind": "CustomResourceDefinition", "name": "applications.argoproj.io", "repeat": 900, "operations": [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]}, {"kind": "CustomResourceDefinition", "name": "applicationsets.argoproj.io", "repeat": 900, "operations": [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]}]"#,
        "",
    );
    let started = Instant::now();
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--audit", "-q"],
        &argo,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let refused = |patches: &str, extra: &str, why: &str| {
        let config = env.patcher(patches, extra);
        let out = env.run(
            &["--config", config.to_str().unwrap(), "--audit"],
            WEB.as_bytes(),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{why}: {err}");
        assert!(out.stdout.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("policy module patcher"), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    };
    let add = r#"{"op": "add", "path": "/metadata/labels", "value": {}}"#;
    refused(
        &format!(r#"[{{"kind": "Deployment", "repeat": 10001, "operations": [{add}]}}]"#),
        "",
        "10001 patches, more than the 10000 allowed (sandbox.maxPatchOperations)",
    );
    refused(
        &format!(r#"[{{"kind": "Deployment", "repeat": 5001, "operations": [{add}, {add}]}}]"#),
        "sandbox: {maxPatchOperationsPerDocument: 100000}\n",
        "more than 10000 patch operations (sandbox.maxPatchOperations)",
    );
    refused(
        &format!(r#"[{{"kind": "Deployment", "repeat": 1001, "operations": [{add}]}}]"#),
        "",
        "1001 operations for one document",
    );
    refused(
        r#"[{"kind": "Deployment", "operations": [{"op": "copy", "from": "", "path": "/spec/x"}]}]"#,
        "",
        "copies the whole document",
    );
    refused(
        r#"[{"kind": "Deployment", "repeat": 40, "operations": [{"op": "copy", "from": "/spec", "path": "/spec/template/again"}]}]"#,
        "",
        "patch budget",
    );
    refused(
        r#"[{"kind": "Deployment", "repeat": 20000, "operations": [{"op": "copy", "from": "/spec/selector", "path": "/spec/selector/in"}]}]"#,
        "sandbox: {maxPatchOperations: 100000, maxPatchOperationsPerDocument: 100000, patchGrowthMib: 512}\n",
        "deeper than 200 levels",
    );
    refused(
        r#"[{"kind": "Deployment", "operations": [{"op": "replace", "path": "/spec/template/spec/containers/+0/image", "value": "x"}]}]"#,
        "",
        "does not exist",
    );
    refused(
        r#"[{"kind": "Deployment", "operations": [{"op": "add", "path": "/metadata/-", "value": "x"}]}]"#,
        "",
        "appends to an array",
    );
    refused(
        r#"[{"kind": "Deployment", "operations": [{"op": "add", "path": "/metadata/annotations", "value": ["x"]}]}]"#,
        "",
        "metadata.annotations is a list",
    );
}

#[test]
fn rule_ids_are_unique_across_modules() {
    let env = Env::new("ids");
    let (patcher, labels) = (module("patcher"), module("require-labels"));
    let config = env.dir.join("vf-post.yaml");
    std::fs::write(
        &config,
        format!(
            "modules:\n  - path: {}\n    sha256: {}\n    settings: {{labels: [team]}}\n  - path: {}\n    sha256: {}\n    settings: {{}}\n",
            labels.display(),
            sha(&labels),
            patcher.display(),
            sha(&patcher)
        ),
    )
    .unwrap();
    let out = env.run(&["--config", config.to_str().unwrap()], WEB.as_bytes());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "policy modules require-labels and patcher both declare rule team-required-labels"
        ),
        "{err}"
    );
    // One module twice, with other settings (as for two teams), is one set of rules.
    std::fs::write(
        &config,
        format!(
            "modules:\n  - name: labels\n    path: {0}\n    sha256: {1}\n    settings: {{labels: [team]}}\n  - name: cost\n    path: {0}\n    sha256: {1}\n    settings: {{annotations: [cost-center]}}\n",
            labels.display(),
            sha(&labels),
        ),
    )
    .unwrap();
    let out = env.run(
        &["--audit", "--config", config.to_str().unwrap()],
        WEB.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A module cannot waive what it brings about, nor move an object to a laxer team: exemptions
/// and teams follow the labels and annotations the chart wrote.
#[test]
fn a_mutation_cannot_exempt_itself() {
    let env = Env::new("self-exempt");
    let config = env.patcher(
        r#"[{"kind": "Deployment", "operations": [
            {"op": "add", "path": "/spec/template/spec/hostNetwork", "value": true},
            {"op": "add", "path": "/metadata/annotations", "value": {"exempt.vf-post.virtufin.io/no-host-network": "because"}}
        ]}]"#,
        "",
    );
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        WEB.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "no-host-network")
        .unwrap();
    assert!(finding.get("exempted").is_none(), "{finding}");
}

/// An operation may name the module's rule that made it (`"policy"`, a member RFC 6902 lets an
/// operation carry): `--show-changes` lists the change under that name, the member never
/// reaches the object, and naming a rule the module does not declare stops the release.
#[test]
fn a_change_is_listed_under_the_rule_its_operations_name() {
    let env = Env::new("policy-member");
    for engine in ["native", "wasm"] {
        let config = env.patcher(
            r#"[{"kind": "Deployment", "operations": [
                {"op": "add", "path": "/metadata/labels", "value": {"a": "1"}, "policy": "patcher-saw"},
                {"op": "add", "path": "/metadata/annotations", "value": {"b": "2"}}]}]"#,
            "",
        );
        let report = env.dir.join("report.json");
        let out = env.run(
            &[
                "--config",
                config.to_str().unwrap(),
                "--engine",
                engine,
                "--show-changes",
                "--format",
                "json",
                "--report",
                report.to_str().unwrap(),
            ],
            WEB.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
        let written = String::from_utf8(out.stdout).unwrap();
        assert!(
            written.contains("a: \"1\"") || written.contains("a: '1'"),
            "{written}"
        );
        assert!(!written.contains("policy"), "{written}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let changes: Vec<(&str, &str)> = report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["by"].as_str().unwrap(),
                    c["patch"][0]["path"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            [
                ("patcher-saw", "/metadata/labels"),
                ("patcher", "/metadata/annotations")
            ],
            "{engine}"
        );
    }
    for (member, why) in [
        (
            r#""not-mine""#,
            r#"naming policy "not-mine", which is not one of its rules"#,
        ),
        ("7", "naming policy 7, which is not one of its rules"),
    ] {
        let config = env.patcher(
            &format!(
                r#"[{{"kind": "Deployment", "operations": [{{"op": "add", "path": "/metadata/labels", "value": {{}}, "policy": {member}}}]}}]"#
            ),
            "",
        );
        let out = env.run(&["--config", config.to_str().unwrap()], WEB.as_bytes());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("policy module patcher"), "{err}");
        assert!(err.contains(why), "{err}");
    }
}
