//! The vf-post binary as Helm and people run it: exit codes, stdout only when rendered,
//! one-line errors, strict configuration, reports, and Helm 4's missing stderr.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_vf-post");

/// Runs vf-post with `args` and `stdin`; `env` adds variables.
fn run(args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("HELM_PLUGIN_NAME")
        .env_remove("VF_POST_CONFIG")
        .env_remove("VF_POST_REPORT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // vf-post may stop before reading stdin (a bad config fails first): a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vf-post-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const CLEAN: &str = "---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  mode: \"0644\"\n";
const DENIED: &str = "---\n# Source: c/templates/pod.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: nginx:latest\n      resources: {requests: {cpu: 1m, memory: 1Mi}, limits: {cpu: 1m, memory: 1Mi}}\n      securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}\n";

#[test]
fn clean_release_is_written_unchanged_with_exit_0() {
    let out = run(&[], CLEAN, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), CLEAN);
}

#[test]
fn denied_release_writes_nothing_to_stdout_and_exits_1() {
    let out = run(&[], DENIED, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("image-tag-pinned"), "{err}");
    assert!(
        err.contains("Pod p  (c/templates/pod.yaml, document 1)"),
        "{err}"
    );
    assert!(err.contains("hint: pin a release tag"), "{err}");
    assert!(err.contains("vf-post: denied: 1 error"), "{err}");
}

#[test]
fn audit_reports_but_never_denies() {
    let out = run(&["--audit"], DENIED, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), DENIED);
    assert!(text(&out.stderr).contains("audit only"));
}

#[test]
fn broken_yaml_is_one_line_exit_2_and_no_stdout() {
    let out = run(
        &[],
        "---\n# Source: c/templates/a.yaml\nkind: A\n  bad: [\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("vf-post: cannot read document 1 (c/templates/a.yaml), line 4"),
        "{err}"
    );
}

#[test]
fn config_typos_are_errors_that_name_the_line() {
    let dir = temp_dir("config");
    let config = dir.join("vf-post.yaml");
    std::fs::write(&config, "rules:\n  image-tag-pinned:\n    enabld: false\n").unwrap();
    let out = run(&["--config", config.to_str().unwrap()], CLEAN, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 3") && err.contains("enabld"), "{err}");
}

#[test]
fn configuration_changes_severities_and_turns_rules_off() {
    let dir = temp_dir("severity");
    let config = dir.join("vf-post.yaml");
    std::fs::write(&config, "rules:\n  image-tag-pinned: {severity: warning}\n").unwrap();
    let out = run(&["--config", config.to_str().unwrap()], DENIED, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning image-tag-pinned"));
    std::fs::write(&config, "rules:\n  image-tag-pinned: {enabled: false}\n").unwrap();
    let out = run(&["--config", config.to_str().unwrap()], DENIED, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("image-tag-pinned"));
}

#[test]
fn teams_chosen_by_namespace_override_the_global_rules() {
    let dir = temp_dir("teams");
    let config = dir.join("vf-post.yaml");
    std::fs::write(
        &config,
        "teams:\n  - name: edge\n    namespaces: [edge]\n    rules:\n      image-tag-pinned: {enabled: false}\n",
    )
    .unwrap();
    let in_team = DENIED.replace("  name: p\n", "  name: p\n  namespace: edge\n");
    let out = run(&["--config", config.to_str().unwrap()], &in_team, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["--config", config.to_str().unwrap()], DENIED, &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn exemptions_with_a_reason_waive_and_are_reported() {
    let exempted = DENIED.replace(
        "  name: p\n",
        "  name: p\n  annotations:\n    exempt.vf-post.virtufin.io/image-tag-pinned.app: \"rolling tag mirrored hourly\"\n",
    );
    let out = run(&[], &exempted, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("exempted by exempt.vf-post.virtufin.io/image-tag-pinned.app: rolling tag mirrored hourly"), "{err}");
    assert!(err.contains("(1 exempted)"), "{err}");
    let wrong_container = exempted.replace("image-tag-pinned.app", "image-tag-pinned.other");
    assert_eq!(run(&[], &wrong_container, &[]).status.code(), Some(1));
}

#[test]
fn common_annotations_cannot_exempt_every_object() {
    let dir = temp_dir("exempt-all");
    let config = dir.join("vf-post.yaml");
    std::fs::write(
        &config,
        "transforms:\n  commonAnnotations:\n    exempt.vf-post.virtufin.io/image-tag-pinned: \"all\"\n",
    )
    .unwrap();
    let out = run(&["--config", config.to_str().unwrap()], DENIED, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("exempt.vf-post.virtufin.io/image-tag-pinned") && err.contains("rules:"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["--format", "xml"], CLEAN, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn help_documents_every_flag_and_the_exit_codes() {
    let out = run(&["--help"], "", &[]);
    let help = text(&out.stdout);
    for needle in [
        "--config",
        "--format",
        "--report",
        "--audit",
        "--engine",
        "--color",
        "--quiet",
        "--chart-path",
        "Exit status:",
        "2  usage, input",
        "Helm 4 never shows",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn report_file_in_the_chosen_format() {
    let dir = temp_dir("report");
    let report = dir.join("sub/report.json");
    let out = run(
        &["--format", "json", "--report", report.to_str().unwrap()],
        DENIED,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["outcome"], "denied");
    assert_eq!(json["findings"][0]["rule"], "image-tag-pinned");
    assert_eq!(
        json["findings"][0]["object"]["source"],
        "c/templates/pod.yaml"
    );
}

#[test]
fn lint_reports_on_stdout_and_writes_no_manifests() {
    let dir = temp_dir("lint");
    let file = dir.join("release.yaml");
    std::fs::write(&file, DENIED).unwrap();
    let out = run(&["lint", file.to_str().unwrap()], "", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("image-tag-pinned") && !stdout.contains("apiVersion"),
        "{stdout}"
    );
    let out = run(&["lint", "-"], CLEAN, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("vf-post: passed"));
}

#[test]
fn under_helm4_the_report_lands_in_the_state_directory() {
    let dir = temp_dir("helm4");
    let out = run(
        &[],
        DENIED,
        &[
            ("HELM_PLUGIN_NAME", Path::new("vf-post")),
            ("XDG_STATE_HOME", &dir),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report = std::fs::read_to_string(dir.join("vf-post/last-report.txt")).unwrap();
    assert!(
        report.contains("image-tag-pinned") && report.contains("denied"),
        "{report}"
    );
    let out = run(
        &[],
        "kind: [",
        &[
            ("HELM_PLUGIN_NAME", Path::new("vf-post")),
            ("XDG_STATE_HOME", &dir),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let report = std::fs::read_to_string(dir.join("vf-post/last-report.txt")).unwrap();
    assert!(
        report.starts_with("vf-post: cannot read document"),
        "{report}"
    );
}

/// Helm 4 discards a plugin's stderr; the person at the terminal still sees why. `script`
/// gives vf-post a real controlling terminal while stdout and stderr go to /dev/null.
#[test]
fn under_helm4_a_denial_reaches_the_terminal() {
    let dir = temp_dir("tty");
    let input = dir.join("denied.yaml");
    std::fs::write(&input, DENIED).unwrap();
    let inner = format!(
        "HELM_PLUGIN_NAME=vf-post XDG_STATE_HOME={} {BIN} --color never < {} > /dev/null 2>/dev/null; echo exit=$?",
        dir.display(),
        input.display()
    );
    let out = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .output()
        .expect("`script` (util-linux) provides a terminal");
    let seen = text(&out.stdout);
    assert!(seen.contains("image-tag-pinned"), "{seen}");
    assert!(seen.contains("vf-post: denied"), "{seen}");
    assert!(seen.contains("exit=1"), "{seen}");
}

#[test]
fn a_closed_output_pipe_is_not_an_error() {
    let big: String = (0..20_000)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"))
        .collect();
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(big.as_bytes()));
    drop(child.stdout.take()); // the reader goes away, as `vf-post | head` does
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        !err.contains("Broken pipe") && !err.contains("cannot write"),
        "{err}"
    );
}

/// docs/rules.md is what `vf-post rules --format markdown` writes (`BLESS=1` rewrites it);
/// every listing names every rule, and the JSON one parses.
#[test]
fn rules_listings_and_docs_rules_md_name_every_rule() {
    let markdown = run(&["rules", "--format", "markdown"], "", &[]);
    assert_eq!(
        markdown.status.code(),
        Some(0),
        "{}",
        text(&markdown.stderr)
    );
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&docs, &markdown.stdout).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&docs).unwrap(),
        text(&markdown.stdout),
        "docs/rules.md is out of date: vf-post rules --format markdown > docs/rules.md"
    );
    let json = run(&["rules", "--format", "json"], "", &[]);
    let rules: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let listed = run(&["rules"], "", &[]);
    for rule in rules.as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        assert!(
            text(&markdown.stdout).contains(&format!("| `{id}` |")),
            "{id}"
        );
        assert!(
            text(&listed.stdout).lines().any(|l| l.starts_with(id)),
            "{id}"
        );
        assert!(!rule["hint"].as_str().unwrap().is_empty(), "{id}");
    }
    assert!(rules.as_array().unwrap().len() >= 30);
    // Cells stay cells: no rule text breaks the table.
    for line in text(&markdown.stdout)
        .lines()
        .filter(|l| l.starts_with("| `"))
    {
        assert_eq!(line.matches(" | ").count(), 3, "{line}");
    }
}

/// GitLab Code Quality leaves waived findings out (it has no waiver; each would count as an
/// issue), and keeps the rest with the check, a severity of its five and the template.
#[test]
fn gitlab_code_quality_leaves_waived_findings_out() {
    let pod = |name: &str, annotations: &str| {
        format!(
            "---\n# Source: c/templates/{name}.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {annotations}\nspec:\n  containers:\n  - name: app\n    image: harbor.virtufin.io/app:latest\n"
        )
    };
    let input = pod(
        "waived",
        "{exempt.vf-post.virtufin.io/image-tag-pinned: \"a fixture\"}",
    ) + &pod("plain", "{}");
    let json = run(&["lint", "--format", "json", "-"], &input, &[]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pinned = |f: &&serde_json::Value| f["rule"] == "image-tag-pinned";
    assert_eq!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(pinned)
            .count(),
        2
    );
    let out = run(&["lint", "--format", "gitlab", "-"], &input, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let issues: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pinned: Vec<_> = issues
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["check_name"] == "image-tag-pinned")
        .collect();
    assert_eq!(pinned.len(), 1, "{issues:#}");
    assert_eq!(pinned[0]["location"]["path"], "c/templates/plain.yaml");
    assert_eq!(pinned[0]["severity"], "critical");
    let unwaived = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["exempted"].is_null())
        .count();
    assert_eq!(issues.as_array().unwrap().len(), unwaived);
}
