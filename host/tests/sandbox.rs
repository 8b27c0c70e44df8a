//! The sandbox holds on the host side too (issue 14), with real compiled components: a cache
//! entry vf-post did not write is never run, one memory budget covers every memory and table of
//! a module, what a module returns is bounded, Secret values reach neither modules nor reports,
//! a module's text cannot forge a report, and modules are refused before they are compiled.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

struct Env {
    dir: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("vf-post-sandbox-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Env { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.join("cache/vf-post/components")
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn config(&self, text: &str) -> PathBuf {
        self.write("vf-post.yaml", text.as_bytes())
    }

    /// A configuration running `path` for every object.
    fn module_config(&self, path: &Path, extra: &str) -> PathBuf {
        self.config(&format!(
            "{extra}modules:\n  - path: {}\n    sha256: {}\n",
            path.display(),
            sha(path)
        ))
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("XDG_STATE_HOME", self.dir.join("state"))
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

    fn inspect(&self, path: &Path) -> (Option<i32>, String) {
        let out = self.run(&["policy", "inspect", path.to_str().unwrap()], b"");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const RELEASE: &str = "---\n# Source: t/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";

fn entries(env: &Env) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(env.cache())
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|x| x == "cwasm"));
    out
}

/// The entry compiled for `module` (the newest one after inspecting it).
fn entry_of(env: &Env, module: &Path) -> PathBuf {
    let hash = sha(module);
    entries(env)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&hash))
        .expect("an entry for the module")
}

#[test]
fn a_cache_entry_vf_post_did_not_write_is_never_run() {
    let env = Env::new("swap");
    let (labels, annotate) = (module("require-labels"), module("team-annotation"));
    assert!(env.inspect(&labels).1.contains("compiled now, and cached"));
    assert!(
        env.inspect(&annotate)
            .1
            .contains("compiled now, and cached")
    );
    assert!(env.inspect(&annotate).1.contains("loaded from the cache"));
    // Another module's artifact under this module's name: it would run the other's code.
    std::fs::copy(entry_of(&env, &labels), entry_of(&env, &annotate)).unwrap();
    let (_, text) = env.inspect(&annotate);
    assert!(text.contains("the cache entry did not verify"), "{text}");
    assert!(text.contains("describes:   team-annotation"), "{text}");
    // Native code overwritten with int3 (0xCC) behind a recomputed SHA-256 header, the old
    // entry format: the MAC needs a key the attacker does not have.
    let entry = entry_of(&env, &annotate);
    let mut bytes = std::fs::read(&entry).unwrap();
    let artifact_start = 8 + 32;
    for b in &mut bytes[artifact_start + 4096..] {
        *b = 0xCC;
    }
    let sum = Sha256::digest(&bytes[artifact_start..]);
    bytes[8..40].copy_from_slice(&sum);
    std::fs::write(&entry, bytes).unwrap();
    let config = env.module_config(&annotate, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "sha256:",
        "settings: {annotations: {example.com/team: x}}\n    sha256:",
    );
    std::fs::write(&config, text).unwrap();
    let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
    assert_eq!(out.status.code(), Some(0), "no SIGTRAP: {}", stderr(&out));
    // Entries and their directory are the user's alone.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.cache()), 0o700);
    assert_eq!(mode(&entry_of(&env, &annotate)), 0o600);
    assert_eq!(mode(&env.dir.join("state/vf-post/cache.key")), 0o600);
}

#[test]
fn a_cache_others_can_write_or_a_key_others_can_read_is_not_used() {
    let env = Env::new("perms");
    let labels = module("require-labels");
    assert!(env.inspect(&labels).1.contains("compiled now, and cached"));
    std::fs::set_permissions(env.cache(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, text) = env.inspect(&labels);
    assert_eq!(code, Some(0), "the module still loads: {text}");
    assert!(
        text.contains("not cached") && text.contains("others could plant code there"),
        "{text}"
    );
    std::fs::set_permissions(env.cache(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(env.inspect(&labels).1.contains("loaded from the cache"));
    let key = env.dir.join("state/vf-post/cache.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, text) = env.inspect(&labels);
    assert!(
        text.contains("not cached") && text.contains("cache key"),
        "{text}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(env.inspect(&labels).1.contains("loaded from the cache"));
    // The key's directory: whoever can write it could put their own key there.
    let key_dir = env.dir.join("state/vf-post");
    std::fs::set_permissions(&key_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (_, text) = env.inspect(&labels);
    assert!(
        text.contains("not cached") && text.contains("others could plant code there"),
        "{text}"
    );
}

/// `sandbox.compiler` (issue 20): each compiler's code is a cache entry of its own, proved
/// for that compiler's build, so one's entry is never run as the other's; `auto` uses a
/// Cranelift entry when there is one, and compiles large modules with Winch.
#[test]
fn each_compiler_has_entries_of_its_own_and_auto_picks_by_size() {
    let env = Env::new("compilers");
    let labels = module("require-labels");
    let inspect = |path: &Path, compiler: &str| {
        let config = env.config(&format!("sandbox: {{compiler: {compiler}}}\n"));
        let out = env.run(
            &[
                "policy",
                "inspect",
                "--config",
                config.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(inspect(&labels, "winch").contains("compiled now, and cached\ncompiler:    winch"));
    let winch_entry = entries(&env);
    assert_eq!(winch_entry.len(), 1);
    // A small module under `auto`: a Winch entry serves until Cranelift has compiled it.
    assert!(
        inspect(&labels, "auto")
            .contains("loaded from the cache (its MAC verified)\ncompiler:    winch")
    );
    assert!(
        inspect(&labels, "cranelift").contains("compiled now, and cached\ncompiler:    cranelift")
    );
    let cranelift_entry: Vec<PathBuf> = entries(&env)
        .into_iter()
        .filter(|e| !winch_entry.contains(e))
        .collect();
    assert_eq!(cranelift_entry.len(), 1);
    assert!(
        inspect(&labels, "auto")
            .contains("loaded from the cache (its MAC verified)\ncompiler:    cranelift")
    );
    // Winch's entry under Cranelift's name: proved for another build, it is not run, nor
    // papered over with the Winch entry: the module is compiled again, and the report says why.
    std::fs::copy(&winch_entry[0], &cranelift_entry[0]).unwrap();
    let text = inspect(&labels, "auto");
    assert!(
        text.contains(
            "compiled now (the cache entry did not verify), and cached\ncompiler:    cranelift"
        ),
        "{text}"
    );
    assert!(
        inspect(&labels, "auto")
            .contains("loaded from the cache (its MAC verified)\ncompiler:    cranelift")
    );
    // Planted at an entry's name: a FIFO is not waited on, a link to an endless device is not
    // followed; both are recompiled over.
    std::fs::remove_file(&cranelift_entry[0]).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&cranelift_entry[0])
            .status()
            .unwrap()
            .success()
    );
    let text = inspect(&labels, "cranelift");
    assert!(
        text.contains("compiled now, and cached\ncompiler:    cranelift"),
        "{text}"
    );
    std::fs::remove_file(&cranelift_entry[0]).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cranelift_entry[0]).unwrap();
    let text = inspect(&labels, "cranelift");
    assert!(
        text.contains("compiled now, and cached\ncompiler:    cranelift"),
        "{text}"
    );
    // A module of 8 MiB or more (padded with a custom section, which changes nothing else)
    // is compiled by Winch under `auto`, and does what it did.
    // Named as the module, so its findings carry the same origin.
    let big = env.write(
        "require-labels.wasm",
        &padded(std::fs::read(&labels).unwrap(), 8 << 20),
    );
    assert!(inspect(&big, "auto").contains("compiled now, and cached\ncompiler:    winch"));
    let release = "---\n# Source: t/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";
    let reports: Vec<String> = [&labels, &big]
        .iter()
        .map(|module| {
            let config = env.config(&format!(
                "modules:\n  - path: {}\n    sha256: {}\n    settings: {{labels: [team]}}\n",
                module.display(),
                sha(module)
            ));
            let out = env.run(
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "--format",
                    "json",
                    "--audit",
                ],
                release.as_bytes(),
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stderr)
                .unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
            report["findings"].to_string()
        })
        .collect();
    assert!(reports[0].contains("require-labels"), "{}", reports[0]);
    assert_eq!(reports[0], reports[1]);
}

/// `module` with a custom section of `bytes` zeros appended: larger, and otherwise the same.
fn padded(mut module: Vec<u8>, bytes: usize) -> Vec<u8> {
    let name = b"padding";
    let mut section = vec![u8::try_from(name.len()).unwrap()];
    section.extend_from_slice(name);
    section.resize(section.len() + bytes, 0);
    module.push(0);
    let mut size = section.len() as u64;
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        module.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    module.extend_from_slice(&section);
    module
}

/// A core module with a function that tail-calls itself (never called): Cranelift compiles
/// tail calls, Winch does not.
fn tail_call_module() -> Vec<u8> {
    use wasm_encoder::{CodeSection, Function, FunctionSection, Instruction, Module, TypeSection};
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    module.section(&types);
    let mut functions = FunctionSection::new();
    functions.function(0);
    module.section(&functions);
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instruction(&Instruction::ReturnCall(0));
    body.instruction(&Instruction::End);
    code.function(&body);
    module.section(&code);
    module.finish()
}

/// A large module Winch cannot compile (a tail call) still loads when the compiler is left to
/// vf-post (Cranelift takes over); asked for Winch, the error says what to change.
#[test]
fn a_large_module_winch_cannot_compile_falls_back_to_cranelift_under_auto() {
    let env = Env::new("fallback");
    let labels = std::fs::read(module("require-labels")).unwrap();
    let module = env.write(
        "require-labels.wasm",
        &padded(
            with_extra_instances(&labels, &[tail_call_module()]),
            8 << 20,
        ),
    );
    let inspect = |compiler: &str| {
        let config = env.config(&format!("sandbox: {{compiler: {compiler}}}\n"));
        env.run(
            &[
                "policy",
                "inspect",
                "--config",
                config.to_str().unwrap(),
                module.to_str().unwrap(),
            ],
            b"",
        )
    };
    let out = inspect("auto");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("compiler:    cranelift"), "{text}");
    let out = inspect("winch");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("Winch (sandbox.compiler: winch) cannot compile it")
            && err.contains("tail call"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A component around a real module, with `extra` core modules instantiated beside it.
fn with_extra_instances(component: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    fn leb(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn read_leb(bytes: &[u8]) -> (usize, usize) {
        let (mut value, mut shift, mut n) = (0usize, 0, 0);
        loop {
            let b = bytes[n];
            value |= usize::from(b & 0x7f) << shift;
            n += 1;
            if b & 0x80 == 0 {
                return (value, n);
            }
            shift += 7;
        }
    }
    let section = |out: &mut Vec<u8>, id: u8, payload: &[u8]| {
        out.push(id);
        leb(payload.len() as u64, out);
        out.extend_from_slice(payload);
    };
    let mut out = component[..8].to_vec();
    let (mut pos, mut core_modules) = (8, 0u64);
    while pos < component.len() {
        let (size, n) = read_leb(&component[pos + 1..]);
        let end = pos + 1 + n + size;
        if component[pos] == 1 {
            core_modules += 1;
        }
        out.extend_from_slice(&component[pos..end]);
        pos = end;
    }
    for module in extra {
        section(&mut out, 1, module);
        let mut instance = Vec::new();
        leb(1, &mut instance);
        instance.push(0x00);
        leb(core_modules, &mut instance);
        leb(0, &mut instance);
        section(&mut out, 2, &instance);
        core_modules += 1;
    }
    out
}

fn core_module(memories: u32, pages: u64, table: Option<u64>) -> Vec<u8> {
    use wasm_encoder::{MemorySection, MemoryType, Module, RefType, TableSection, TableType};
    let mut module = Module::new();
    if let Some(elements) = table {
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: elements,
            maximum: None,
            shared: false,
        });
        module.section(&tables);
    }
    let mut section = MemorySection::new();
    for _ in 0..memories {
        section.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    if memories > 0 {
        module.section(&section);
    }
    module.finish()
}

#[test]
fn one_memory_budget_covers_every_memory_and_table_of_a_module() {
    let env = Env::new("memory");
    let real = std::fs::read(module("require-labels")).unwrap();
    let settings = "    settings: {labels: [team]}\n";
    for (what, extra, expected) in [
        (
            "24 memories of 64 MiB in 24 modules",
            (0..24)
                .map(|_| core_module(1, 1024, None))
                .collect::<Vec<_>>(),
            "exceeded its memory limit of 64 MiB, all memories and tables together",
        ),
        (
            "a table of 10 million elements",
            vec![core_module(0, 0, Some(10_000_000))],
            "exceeded its memory limit of 64 MiB, all memories and tables together",
        ),
        (
            "80 modules with an empty memory each",
            (0..80).map(|_| core_module(1, 0, None)).collect::<Vec<_>>(),
            "made more than",
        ),
    ] {
        let bomb = env.write("bomb.wasm", &with_extra_instances(&real, &extra));
        let config = env.config(&format!(
            "modules:\n  - path: {}\n    sha256: {}\n{settings}",
            bomb.display(),
            sha(&bomb)
        ));
        let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(expected), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        let (code, text) = env.inspect(&bomb);
        assert_eq!(code, Some(2), "{what}: inspect refuses it too: {text}");
    }
}

const SECRET_RELEASE: &str = "---\n# Source: t/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMi1zM2NyM3Q=\nstringData:\n  token: tok3n-v4lue-42\n  hidden: \"inv\\u200bisible-p4ss\"\n---\n# Source: t/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n";

#[test]
fn secrets_reach_neither_modules_nor_reports() {
    let env = Env::new("secrets");
    let leaker = module("leaker");
    // By default the module sees masked values only.
    let config = env.module_config(&leaker, "");
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--format", "json"],
        SECRET_RELEASE.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    assert!(
        report.contains("saw ***"),
        "the module saw the mask: {report}"
    );
    // Let it read them: it echoes them in every field and disguise; none reaches the report.
    let text = std::fs::read_to_string(&config).unwrap() + "    readSecrets: true\n";
    std::fs::write(&config, text).unwrap();
    for format in ["json", "text", "sarif"] {
        let out = env.run(
            &["--config", config.to_str().unwrap(), "--format", format],
            SECRET_RELEASE.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = stderr(&out);
        assert!(report.contains("***"), "{report}");
        for leak in [
            "hunter2-s3cr3t",
            "t3rc3s-2retnuh",
            "68756e746572322d7333637233",
            "aHVudGVyMi1zM2NyM3Q",
            "tok3n-v4lue-42",
            "24-eul4v-n3kot",
            "h\u{200b}u\u{200b}n",
            "isible-p4ss",
            "ssap-elbisi",
        ] {
            assert!(!report.contains(leak), "{format}: {leak} leaked: {report}");
        }
    }
}

#[test]
fn a_modules_text_cannot_forge_the_report() {
    let env = Env::new("forge");
    let leaker = module("leaker");
    let config = env.module_config(&leaker, "");
    let out = env.run(
        &["--config", config.to_str().unwrap(), "--color", "never"],
        SECRET_RELEASE.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    assert!(
        !report.contains('\u{1b}') && !report.contains('\u{7}'),
        "{report:?}"
    );
    let verdicts: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("vf-post:"))
        .collect();
    assert_eq!(verdicts.len(), 1, "one verdict line, vf-post's: {report}");
    for line in report.lines() {
        let start = line.trim_start();
        assert!(!start.starts_with("::"), "a workflow command: {line}");
        assert!(
            !line.contains("##[") && !line.contains("##vso["),
            "a workflow command: {line}"
        );
    }
    for format in ["json", "sarif"] {
        let out = env.run(
            &["--config", config.to_str().unwrap(), "--format", format],
            SECRET_RELEASE.as_bytes(),
        );
        let parsed: serde_json::Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{format} stays valid JSON: {e}"));
        assert!(parsed.is_object());
    }
}

#[test]
fn modules_are_refused_before_they_are_compiled_and_named_by_path() {
    let env = Env::new("loading");
    let wasi = module("wasi-import");
    let config = env.module_config(&wasi, "");
    let out = env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("policy module wasi-import ({})", wasi.display())),
        "{err}"
    );
    assert!(err.contains("imports wasi:clocks/wall-clock"), "{err}");
    assert!(
        entries(&env).is_empty(),
        "nothing compiled, nothing cached: {:?}",
        entries(&env)
    );
    let (code, text) = env.inspect(&wasi);
    assert_eq!(code, Some(2));
    assert!(
        text.contains("import:      wasi:clocks/wall-clock@0.2.0 (functions: refused)"),
        "{text}"
    );
    assert!(
        text.contains("export:      vf:policy/policy@0.1.0"),
        "{text}"
    );
    assert!(
        text.contains("WIT:") && text.contains("world"),
        "the whole WIT: {text}"
    );
    // Size and compile-time limits.
    let labels = module("require-labels");
    let config = env.module_config(&labels, "sandbox: {maxModuleMib: 0}\n");
    let err = stderr(&env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes()));
    assert!(
        err.contains("more than the 0 MiB allowed (sandbox.maxModuleMib)"),
        "{err}"
    );
    let config = env.module_config(&labels, "sandbox: {compileTimeoutMs: 1}\n");
    let err = stderr(&env.run(&["--config", config.to_str().unwrap()], RELEASE.as_bytes()));
    assert!(
        err.contains("to compile (sandbox.compileTimeoutMs)"),
        "{err}"
    );
}

#[test]
fn what_a_module_returns_is_bounded() {
    let env = Env::new("returns");
    let leaker = module("leaker");
    let config = env.module_config(&leaker, "sandbox: {maxFindings: 2}\n");
    let out = env.run(
        &["--config", config.to_str().unwrap()],
        SECRET_RELEASE.as_bytes(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let label = format!(
        "policy module leaker ({}, declared leaker)",
        leaker.display()
    );
    assert!(
        err.contains(&format!(
            "{label} returned 7 findings, more than the 2 allowed (sandbox.maxFindings)"
        )),
        "{err}"
    );
}
