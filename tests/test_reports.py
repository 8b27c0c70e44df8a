"""Reports people and tools act on (issue 5): SARIF valid against the OASIS schema, lint
clean on the chart, denials visible under Helm 4, secret values never shown."""

import json
import subprocess

import jsonschema
import pytest

from chart_support import CHART, CI
from conftest import REPO, SHARED, VF_POST, helm

SARIF_SCHEMA = json.loads((SHARED / "schemas" / "sarif-schema-2.1.0.json").read_text())
CORPUS = sorted((SHARED / "corpus").glob("*.yaml"))


def lint(path, *args):
    return subprocess.run([str(VF_POST), "lint", str(path), "--color", "never", *args],
                          capture_output=True, text=True, check=False)


def helm3_stream(tmp_path, values=()):
    out = helm("install", CHART, values=[str(v) for v in values])
    assert out["ok"], out
    path = tmp_path / "release.yaml"
    path.write_text(out["manifest"])
    return path


@pytest.mark.parametrize("file", CORPUS + [None], ids=lambda p: p.name if p else "chart")
def test_sarif_is_valid_2_1_0(file, tmp_path):
    target = file or helm3_stream(tmp_path)
    for extra in ([], ["--chart-path", "chart"]):
        out = lint(target, "--format", "sarif", *extra)
        assert out.returncode in (0, 1), out.stderr
        sarif = json.loads(out.stdout)
        jsonschema.Draft7Validator(SARIF_SCHEMA).validate(sarif)
        assert sarif["runs"][0]["tool"]["driver"]["rules"], "rule metadata is listed"


def test_sarif_says_which_rules_the_configuration_turns_on_off_or_regrades(tmp_path):
    """A rule's metadata gives its default (`defaultConfiguration`); what this run's
    configuration changed for every object is the run's `ruleConfigurationOverrides`, so code
    scanning shows the rule that is off by default as on."""
    config = tmp_path / "vf-post.yaml"
    config.write_text(json.dumps({"rules": {
        "network-default-deny": {"enabled": True},
        "image-tag-pinned": {"severity": "warning"},
        "container-limits": {"enabled": False, "severity": "info"},
        "pdb-for-replicas": {}}}))
    out = lint(helm3_stream(tmp_path), "--format", "sarif", "--config", str(config))
    assert out.returncode in (0, 1), out.stderr
    sarif = json.loads(out.stdout)
    jsonschema.Draft7Validator(SARIF_SCHEMA).validate(sarif)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    overrides = {o["descriptor"]["id"]: o for o in run["invocations"][0]["ruleConfigurationOverrides"]}
    assert {i: o["configuration"] for i, o in overrides.items()} == {
        "network-default-deny": {"enabled": True},
        "image-tag-pinned": {"level": "warning"},
        "container-limits": {"enabled": False, "level": "note"}}
    assert all(rules[o["descriptor"]["index"]]["id"] == i for i, o in overrides.items())
    assert rules[overrides["network-default-deny"]["descriptor"]["index"]]["defaultConfiguration"]["enabled"] is False
    # Without such settings, no invocation is written.
    plain = json.loads(lint(helm3_stream(tmp_path), "--format", "sarif").stdout)
    assert "invocations" not in plain["runs"][0]


def lint_latest_api_image(tmp_path, report_format):
    """The chart with the api image on `latest`, linted from the repository's root with
    `--chart-path chart`: denied, the report in `report_format`."""
    stream = helm3_stream(tmp_path)
    text = stream.read_text().replace("harbor.virtufin.io/virtufin/api:1.0.0", "harbor.virtufin.io/virtufin/api:latest")
    stream.write_text(text)
    out = subprocess.run([str(VF_POST), "lint", str(stream), "--format", report_format, "--chart-path", "chart"],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 1
    return out


def test_sarif_points_at_the_chart_template_with_a_line(tmp_path):
    out = lint_latest_api_image(tmp_path, "sarif")
    result = next(r for r in json.loads(out.stdout)["runs"][0]["results"] if r["ruleId"] == "image-tag-pinned")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "chart/templates/deployment.yaml"
    lines = (CHART / "templates" / "deployment.yaml").read_text().splitlines()
    assert lines[location["region"]["startLine"] - 1].strip() == "kind: Deployment"


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_lint_is_clean_on_the_chart_under_the_default_configuration(values, tmp_path):
    out = lint(helm3_stream(tmp_path, [values]), "--format", "json")
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout
    assert report["findings"] == [] and report["outcome"] == "passed"


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_render_is_clean_with_hooks_under_helm4(values, tmp_path):
    """Helm 4 hands vf-post the hooks too (the helm test pod): still no finding."""
    report = tmp_path / "report.json"
    out = helm("install", CHART, values=[str(values)], post_renderer="vf-post",
               args=["--format", "json", "--report", str(report)])
    assert out["ok"], out
    data = json.loads(report.read_text())
    assert data["findings"] == [], data["findings"]
    # The test hook pod names its pull secret itself (Helm 3 never post-renders hooks):
    # vf-post leaves it as it is (tests/test_hooks.py).
    assert not any(a["object"].startswith("Pod/") and a["pass"] == "pull-secrets" for a in data["applied"])


def test_a_denied_release_under_helm4_still_tells_the_person_why(tmp_path):
    state = tmp_path / "state"
    out = helm("install", REPO / "tests" / "charts" / "denied", post_renderer="vf-post",
               env={"XDG_STATE_HOME": str(state)})
    assert not out["ok"]
    assert 'plugin "vf-post" exited with error' in out["error"]  # all Helm 4 says
    report = (state / "vf-post" / "last-report.txt").read_text()
    assert "image-tag-pinned" in report and "vf-post: denied" in report
    assert "denied/templates/pod.yaml" in report


def test_secret_values_never_appear_in_any_report(tmp_path):
    out = helm("install", REPO / "tests" / "charts" / "secrets")
    stream = tmp_path / "secrets.yaml"
    stream.write_text(out["manifest"])
    for fmt in ("text", "json", "sarif"):
        shown = lint(stream, "--format", fmt).stdout
        assert "dapr-secret-inline" in shown
        for secret in ("s3cret-db-password-1", "s3cret-api-token-2", "s3cret-inline-redis-3"):
            assert secret not in shown, (fmt, secret)
        assert "***" in shown  # the careless exemption reason was masked, not dropped


def test_every_corpus_file_lints_without_failing(tmp_path):
    for file in CORPUS:
        out = lint(file, "--format", "json")
        assert out.returncode in (0, 1), (file.name, out.stderr)
        json.loads(out.stdout)


GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


@pytest.mark.parametrize("file", CORPUS + [None], ids=lambda p: p.name if p else "chart")
def test_gitlab_code_quality_has_every_unwaived_finding_once(file, tmp_path):
    """GitLab Code Quality (docs.gitlab.com, "Code Quality report format"): an array of
    issues with description, check_name, a unique fingerprint, a severity of five, and
    location.path with lines.begin; the same input gives the same fingerprints."""
    target = file or helm3_stream(tmp_path)
    report = json.loads(lint(target, "--format", "json").stdout)
    unwaived = [f for f in report["findings"] if not f.get("exempted")]
    for extra in ([], ["--chart-path", "chart"]):
        runs = [lint(target, "--format", "gitlab", *extra) for _ in range(2)]
        assert runs[0].returncode in (0, 1), runs[0].stderr
        assert runs[0].stdout == runs[1].stdout, "stable across runs"
        issues = json.loads(runs[0].stdout)
        assert isinstance(issues, list) and len(issues) == len(unwaived)
        fingerprints = [i["fingerprint"] for i in issues]
        assert len(set(fingerprints)) == len(fingerprints), "fingerprints are unique"
        for issue in issues:
            assert isinstance(issue["description"], str) and issue["description"]
            assert isinstance(issue["check_name"], str) and issue["check_name"]
            assert issue["severity"] in GITLAB_SEVERITIES
            assert isinstance(issue["location"]["path"], str) and issue["location"]["path"]
            assert isinstance(issue["location"]["lines"]["begin"], int)
            assert issue["location"]["lines"]["begin"] >= 1


def test_gitlab_code_quality_points_at_the_chart_template_with_a_line(tmp_path):
    out = lint_latest_api_image(tmp_path, "gitlab")
    issue = next(i for i in json.loads(out.stdout) if i["check_name"] == "image-tag-pinned")
    assert issue["severity"] == "critical"
    assert issue["location"]["path"] == "chart/templates/deployment.yaml"
    lines = (CHART / "templates" / "deployment.yaml").read_text().splitlines()
    assert lines[issue["location"]["lines"]["begin"] - 1].strip() == "kind: Deployment"
    assert "Fix:" in issue["description"]


@pytest.mark.parametrize("file", CORPUS + [None], ids=lambda p: p.name if p else "chart")
def test_junit_parses_and_counts_what_the_json_report_finds(file, tmp_path):
    """JUnit XML as CI systems read it (the Ant/Jenkins shape: testsuites > testsuite >
    testcase with failure, skipped, system-out): one case per object and rule with findings,
    a failure exactly where an unwaived error is, warnings in the case's output."""
    import xml.etree.ElementTree as ET
    target = file or helm3_stream(tmp_path)
    report = json.loads(lint(target, "--format", "json").stdout)
    out = lint(target, "--format", "junit")
    assert out.returncode in (0, 1), out.stderr
    root = ET.fromstring(out.stdout)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == str(target)
    cases = suites[0].findall("testcase")
    assert int(suites[0].get("tests")) == len(cases) == int(root.get("tests"))
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suites[0].get("failures")) == len(failed)
    keyed = {}
    for f in report["findings"]:
        o = f.get("object") or {}
        name = f"{o['kind']} {o['namespace']}/{o['name']}" if o.get("namespace") else (
            f"{o['kind']} {o['name']}" if o else "release")
        keyed.setdefault((name, f["rule"]), []).append(f)
    if not keyed:
        assert len(cases) == 1 and not failed
        return
    assert {(c.get("classname"), c.get("name")) for c in cases} == set(keyed)
    for case in cases:
        found = keyed[(case.get("classname"), case.get("name"))]
        errors = [f for f in found if f["severity"] == "error" and not f.get("exempted")]
        assert (case.find("failure") is not None) == bool(errors), case.get("name")
        assert len(case.find("system-out").text.split("\n")) == len(found)


def test_junit_holds_what_a_hostile_policy_writes():
    """A policy's messages (tests/cel/hostile-report-injection: escape sequences, bidi
    overrides, forged lines) stay character data of well-formed XML."""
    import xml.etree.ElementTree as ET
    case = REPO / "tests" / "cel" / "hostile-report-injection"
    out = subprocess.run([str(VF_POST), "lint", "--config", "config.yaml", "--format", "junit", "-"],
                         input=(case / "input.yaml").read_text(), capture_output=True, text=True,
                         cwd=case, check=False)
    assert out.returncode == 1, out.stderr
    root = ET.fromstring(out.stdout)
    text = "".join(root.itertext())
    assert "forger.example.com" in out.stdout
    assert not any(ord(c) < 0x20 and c not in "\n\t\r" for c in text), "a control character got through"
