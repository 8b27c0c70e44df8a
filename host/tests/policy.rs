//! Policy modules and the wasm engine, with real compiled components (scripts/build-wasm
//! builds them from policies/ and plugin/): the sandbox stops every kind of misbehaviour with
//! an error naming the module, the cache is used and never trusted blindly, patches apply only
//! where allowed, and `--engine wasm` writes exactly what the native engine writes.

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
        "{} is missing: run scripts/build-wasm (scripts/test does)",
        path.display()
    );
    path
}

fn sha(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("vf-post-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Env { dir }
    }

    fn config(&self, text: &str) -> PathBuf {
        let path = self.dir.join("vf-post.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs vf-post with a private cache; fails the test if it does not end within 20 s.
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
        let pid = child.id();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        let out = match result.recv_timeout(Duration::from_secs(20)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("vf-post hung: {args:?}");
            }
        };
        writer.join().unwrap();
        out
    }
}

const RELEASE: &str = "---\n# Source: t/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: payments\n  labels: {team: payments}\ndata:\n  a: b\n---\n# Source: t/templates/other.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: elsewhere\ndata:\n  a: b\n";

fn hostile(env: &Env, behavior: &str, extra: &str) -> Output {
    hostile_compiled(env, behavior, extra, "auto")
}

fn hostile_compiled(env: &Env, behavior: &str, extra: &str, compiler: &str) -> Output {
    let path = module("hostile");
    let config = env.config(&format!(
        "sandbox: {{timeoutMs: 300, memoryMib: 32, compiler: {compiler}}}\nmodules:\n  - path: {}\n    sha256: {}\n    settings: {{behavior: {behavior}}}\n{extra}",
        path.display(),
        sha(&path)
    ));
    env.run(
        &["--config", config.to_str().unwrap(), "--audit", "-q"],
        RELEASE.as_bytes(),
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every bound holds under both compilers (issue 20: `sandbox.compiler`, Winch for large
/// modules): Winch's code is checked for time, memory and stack as Cranelift's is.
#[test]
fn misbehaving_modules_end_in_an_error_naming_the_module() {
    for compiler in ["cranelift", "winch"] {
        misbehaving_modules_under(compiler);
    }
}

fn misbehaving_modules_under(compiler: &str) {
    let env = Env::new(&format!("hostile-{compiler}"));
    for (behavior, expected) in [
        (
            "loop",
            "policy module hostile ran longer than its time limit of 300 ms",
        ),
        (
            "grow-memory",
            "policy module hostile exceeded its memory limit of 32 MiB",
        ),
        ("trap", "policy module hostile panicked (trap: unreachable)"),
        ("panic", "policy module hostile panicked"),
        ("recursion", "policy module hostile overflowed its stack"),
        ("failed", "policy module hostile failed: gave up on purpose"),
        (
            "bad-patch",
            "patch for document 1 (t/templates/cm.yaml): policy module hostile: not an RFC 6902 patch",
        ),
        (
            "identity-patch",
            "changes /metadata/name, which identifies the object",
        ),
        (
            "bad-finding",
            "policy module hostile returned a result for document 9999",
        ),
        (
            "undeclared-rule",
            "a finding of rule \"not-declared\", which it does not declare",
        ),
        (
            "reject-settings",
            "policy module hostile refuses its settings: invalid settings: rejected on purpose",
        ),
    ] {
        // Errors name the module by its name, its path and the name it declares.
        let label = format!(
            "policy module hostile ({}, declared hostile) ",
            module("hostile").display()
        );
        let expected = expected.replace("policy module hostile ", &label);
        let started = Instant::now();
        let out = hostile_compiled(&env, behavior, "    mutate: true\n", compiler);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{compiler}, {behavior}: {err}");
        assert!(out.stdout.is_empty(), "{behavior}: nothing on stdout");
        assert!(err.contains(&expected), "{behavior}: {err}");
        assert_eq!(err.lines().count(), 1, "{behavior}: one line: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{behavior} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_well_behaved_module_sees_whole_objects_of_its_kinds() {
    let env = Env::new("ok");
    let out = hostile(&env, "ok", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config = env.dir.join("vf-post.yaml");
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        RELEASE.as_bytes(),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["hostile-saw", "hostile-saw"]);
    assert_eq!(report["findings"][0]["origin"], "hostile");
    assert_eq!(report["findings"][0]["severity"], "warning");
}

#[test]
fn modules_that_import_or_speak_another_version_are_refused_at_load() {
    let env = Env::new("refused");
    for (name, expected) in [
        (
            "wasi-import",
            "imports wasi:clocks/wall-clock@0.2.0; policy modules may import nothing",
        ),
        (
            "wrong-version",
            "exports vf:policy/policy@0.2.0; this vf-post speaks vf:policy/policy@0.1.0",
        ),
    ] {
        let path = module(name);
        let config = env.config(&format!(
            "modules:\n  - path: {}\n    sha256: {}\n",
            path.display(),
            sha(&path)
        ));
        let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        let out = env.run(&["policy", "inspect", path.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains(expected),
            "inspect {name}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_module_whose_hash_does_not_match_its_pin_is_refused() {
    let env = Env::new("pin");
    let path = module("require-labels");
    let config = env.config(&format!(
        "modules:\n  - path: {}\n    sha256: {}\n    settings: {{labels: [team]}}\n",
        path.display(),
        "0".repeat(64)
    ));
    let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!(
        "has sha256 {}, but the configuration pins {}; refusing it",
        sha(&path),
        "0".repeat(64)
    )));
}

#[test]
fn a_core_module_is_refused_with_a_hint() {
    let env = Env::new("core");
    let core =
        repo().join("target/wasm-policies/wasm32-unknown-unknown/release/require_labels.wasm");
    let out = env.run(&["policy", "inspect", core.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("vf-post policy componentize"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn compiled_once_then_cached_and_a_corrupt_entry_is_recompiled() {
    let env = Env::new("cache");
    let path = module("require-labels");
    let inspect = |env: &Env| {
        let out = env.run(&["policy", "inspect", path.to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(inspect(&env).contains("compiled now, and cached"));
    assert!(inspect(&env).contains("loaded from the cache"));
    let entry = std::fs::read_dir(env.dir.join("cache/vf-post/components"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    assert!(inspect(&env).contains("the cache entry did not verify"));
    assert!(inspect(&env).contains("loaded from the cache"));
}

#[test]
fn inspect_describes_the_module() {
    let env = Env::new("inspect");
    let out = env.run(
        &[
            "policy",
            "inspect",
            module("require-labels").to_str().unwrap(),
        ],
        b"",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "package vf:policy@0.1.0",
        "export:      vf:policy/policy@0.1.0",
        "import:      vf:policy/types@0.1.0 (types only: allowed)",
        "describes:   require-labels 0.1.0",
        "team-required-labels",
        "sandbox:     loads",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}

fn teams_config(env: &Env, mutate: bool) -> PathBuf {
    let labels = module("require-labels");
    let annotate = module("team-annotation");
    env.config(&format!(
        "teams:\n  - name: payments\n    labels: {{team: payments}}\n    modules:\n      - path: {}\n        sha256: {}\n        settings: {{labels: [team], annotations: [cost-center]}}\n      - path: {}\n        sha256: {}\n        settings: {{annotations: {{example.com/team: payments, cost-center: \"4711\"}}}}\n        mutate: {mutate}\n",
        labels.display(),
        sha(&labels),
        annotate.display(),
        sha(&annotate)
    ))
}

#[test]
fn team_modules_see_their_team_only_and_patch_only_when_allowed() {
    let env = Env::new("teams");
    // Mutations come first: team-annotation adds cost-center, and require-labels, judging
    // the final documents, finds it there.
    let config = teams_config(&env, true);
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        RELEASE.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = String::from_utf8(out.stdout).unwrap();
    assert!(
        written.contains("example.com/team: payments") && written.contains("cost-center: \"4711\""),
        "{written}"
    );
    assert_eq!(
        written.matches("example.com/team").count(),
        1,
        "only the team's object is patched"
    );
    // Without mutate the patch is reported, not applied: the team's object lacks cost-center.
    let config = teams_config(&env, false);
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        RELEASE.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    let denied: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(denied.len(), 1, "{report}");
    assert_eq!(denied[0]["rule"], "team-required-annotations");
    assert_eq!(
        denied[0]["object"]["name"], "settings",
        "the other team's object is not checked"
    );
    assert!(
        report["applied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["change"] == "patch proposed, not applied (the module may not mutate)")
    );
}

#[test]
fn module_findings_follow_the_configuration() {
    let env = Env::new("severity");
    let path = module("require-labels");
    let config = env.config(&format!(
        "rules:\n  team-required-labels: {{severity: warning}}\nmodules:\n  - path: {}\n    sha256: {}\n    settings: {{labels: [owner]}}\n",
        path.display(),
        sha(&path)
    ));
    let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning team-required-labels"));
}

/// The engine as a component writes exactly what the native engine writes, and reports the
/// same, over the corpus untouched and with every document changed.
#[test]
fn wasm_engine_matches_native_byte_for_byte() {
    let env = Env::new("engine");
    let engine = Path::new(BIN).with_file_name("vf-post-engine.wasm");
    assert!(
        engine.exists(),
        "run scripts/build-wasm: {} is missing",
        engine.display()
    );
    let touch = env.config("transforms:\n  commonAnnotations: {example.com/touched: \"yes\"}\n");
    let corpus = std::env::var_os("VF_SHARED")
        .map_or_else(|| repo().join("../shared"), PathBuf::from)
        .join("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 18);
    for file in files {
        let input = std::fs::read(&file).unwrap();
        for config in [None, Some(&touch)] {
            let mut args = vec!["--audit", "-q", "--format", "json"];
            if let Some(c) = config {
                args.extend(["--config", c.to_str().unwrap()]);
            }
            let native = env.run(&args, &input);
            args.extend(["--engine", "wasm"]);
            let wasm = env.run(&args, &input);
            assert_eq!(native.status.code(), Some(0), "{}", stderr(&native));
            assert_eq!(wasm.status.code(), Some(0), "{}", stderr(&wasm));
            assert!(
                native.stdout == wasm.stdout,
                "{}: outputs differ",
                file.display()
            );
            assert_eq!(
                stderr(&native),
                stderr(&wasm),
                "{}: reports differ",
                file.display()
            );
            if config.is_some() {
                assert_ne!(native.stdout, input, "every document changed");
            }
        }
    }
}
