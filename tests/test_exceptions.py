"""Exceptions in the configuration (issue 18): findings waived on an upstream chart nobody
here can annotate, with a reason, an owner and an end date; an expired one is an error, an
unused one a warning; a malformed one stops the run naming it. Real vf-post on a real chart
(ingress-nginx as Helm 4 hands it over), with both engines."""

import datetime
import json
import subprocess
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from conftest import SHARED, VF_POST

INGRESS = SHARED / "corpus" / "ingress-nginx.helm4.yaml"
SARIF_SCHEMA = json.loads((SHARED / "schemas" / "sarif-schema-2.1.0.json").read_text())
FAR = "2099-12-31"
TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def exception(rule="container-requests", **fields):
    entry = {"rule": rule, "reason": "upstream chart, tracked in PLAT-1", "owner": "platform", "expires": FAR}
    entry.update(fields)
    return entry


def run(tmp_path, exceptions, *args, engine="native", stdin=None, mode="lint"):
    config = tmp_path / "vf-post.yaml"
    config.write_text(json.dumps({"exceptions": exceptions}))
    command = [str(VF_POST)] + (["lint"] if mode == "lint" else []) + [
        "--config", str(config), "--color", "never", "--engine", engine, *args]
    if mode == "lint" and stdin is None:
        command.append(str(INGRESS))
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)


def findings(out):
    return json.loads(out.stdout)["findings"]


@pytest.mark.parametrize("engine", ["native", "wasm"])
def test_exceptions_waive_the_upstream_jobs_and_stay_visible(tmp_path, engine):
    both_jobs = [exception(kind="Job", name=f"ingress-nginx-admission-{job}", namespace="ingress-nginx",
                           container=job) for job in ("create", "patch")]
    out = run(tmp_path, both_jobs, "--format", "json", engine=engine)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    waived = [f for f in report["findings"] if "exempted" in f]
    assert sorted((f["rule"], f["container"]) for f in waived) == [
        ("container-requests", "create"), ("container-requests", "patch")]
    assert waived[0]["exempted"]["reason"] == "upstream chart, tracked in PLAT-1"
    assert {f["exempted"]["exception"]["index"] for f in waived} == {0, 1}
    assert waived[0]["exempted"]["exception"]["owner"] == "platform"
    assert report["summary"]["exempted"] == 2
    assert report["outcome"] == "passed"
    # The limits warnings on the same containers are another rule: still there.
    assert sum(f["rule"] == "container-limits" and "exempted" not in f for f in report["findings"]) == 3


@pytest.mark.parametrize("engine", ["native", "wasm"])
def test_an_exception_naming_only_a_kind_waives_alike_with_either_engine(tmp_path, engine):
    # Found by an attack: the selectors left out crossed to the engine component as `null`,
    # which the configuration refuses, so `--engine wasm` refused every such exception.
    out = run(tmp_path, [exception(kind="Job")], "--format", "json", engine=engine)
    assert out.returncode == 0, out.stdout + out.stderr
    waived = [f for f in findings(out) if "exempted" in f]
    assert sorted(f["container"] for f in waived) == ["create", "patch"]


def test_sarif_marks_them_external_suppressions_with_owner_and_end(tmp_path):
    out = run(tmp_path, [exception(kind="Job")], "--format", "sarif")
    assert out.returncode == 0, out.stderr
    sarif = json.loads(out.stdout)
    jsonschema.Draft7Validator(SARIF_SCHEMA).validate(sarif)
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert len(suppressed) == 2
    suppression = suppressed[0]["suppressions"][0]
    assert suppression["kind"] == "external"
    assert suppression["justification"] == "upstream chart, tracked in PLAT-1"
    assert suppression["properties"] == {"owner": "platform", "expires": FAR}


def test_an_expired_exception_waives_nothing_and_denies(tmp_path):
    yesterday = (TODAY - datetime.timedelta(days=1)).isoformat()
    out = run(tmp_path, [exception(kind="Job", expires=yesterday)], "--format", "json")
    assert out.returncode == 1, out.stdout
    report = findings(out)
    assert not any("exempted" in f for f in report)
    expired = [f for f in report if f["rule"] == "exception-expired"]
    assert len(expired) == 1 and expired[0]["severity"] == "error"
    assert f"exceptions[0] for container-requests on Job * expired after {yesterday}" in expired[0]["message"]
    assert "(2 findings no longer waived)" in expired[0]["message"]
    assert "platform" in expired[0]["message"]


def test_an_exception_ending_today_still_waives(tmp_path):
    out = run(tmp_path, [exception(kind="Job", expires=TODAY.isoformat())], "--format", "json")
    assert out.returncode == 0, out.stdout
    assert not any(f["rule"] == "exception-expired" for f in findings(out))


def test_an_expired_exception_can_be_turned_down_under_rules(tmp_path):
    config = tmp_path / "vf-post.yaml"
    config.write_text(json.dumps({"exceptions": [exception(kind="Job", expires="2020-01-01")],
                                  "rules": {"exception-expired": {"severity": "warning"},
                                            "container-requests": {"severity": "warning"}}}))
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", str(INGRESS)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout
    expired = [f for f in findings(out) if f["rule"] == "exception-expired"]
    assert [f["severity"] for f in expired] == ["warning"]


def test_an_unused_exception_is_a_warning_once_across_the_inputs(tmp_path):
    other = SHARED / "corpus" / "bitnami-postgresql.helm4.yaml"
    out = run(tmp_path, [exception(kind="Job"), exception(rule="no-host-network", name="nothing-here")],
              "--format", "json", str(other))
    assert out.returncode == 0, out.stdout + out.stderr
    unused = [f for f in findings(out) if f["rule"] == "exception-unused"]
    # The Job exception is used in the ingress-nginx input only: not unused.
    assert [(f["severity"], f["message"]) for f in unused] == [
        ("warning", "exceptions[1] for no-host-network on any kind nothing-here (owner platform) waives nothing in this run")]


@pytest.mark.parametrize("edit, message", [
    ({"owner": None}, "missing field `owner`"),
    ({"reason": " "}, "exceptions[0].reason is empty"),
    ({"expires": "2027-02-30"}, "exceptions[0].expires is \"2027-02-30\", not a date of the form YYYY-MM-DD"),
    ({"expires": "2027-06-30T00:00:00Z"}, "not a date of the form YYYY-MM-DD"),
    ({"name": ""}, "exceptions[0].name is empty, which matches nothing"),
    ({"rule": "container-request"}, "exceptions[0].rule: \"container-request\" is neither a built-in rule"),
    ({"rule": "exception-unused"}, "cannot be waived by an exception"),
    ({"team": "a"}, "unknown field `team`"),
])
def test_a_malformed_exception_stops_the_run_naming_it(tmp_path, edit, message):
    entry = exception()
    entry.update(edit)
    entry = {k: v for k, v in entry.items() if v is not None}
    out = run(tmp_path, [entry])
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"vf-post: config {tmp_path / 'vf-post.yaml'}"), lines[0]
    assert message in lines[0], lines[0]


def test_the_date_is_read_as_yaml_writes_it(tmp_path):
    """Unquoted, as the issue's example and most people write it; YAML 1.1 readers would make
    it a timestamp, serde-saphyr gives the text."""
    config = tmp_path / "vf-post.yaml"
    config.write_text("exceptions:\n- rule: container-requests\n  kind: Job\n  reason: upstream\n"
                      "  owner: platform\n  expires: 2099-06-30\n")
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", str(INGRESS)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(f.get("exempted", {}).get("exception", {}).get("expires") == "2099-06-30" for f in findings(out))


def test_a_policy_rule_can_be_excepted(tmp_path):
    (tmp_path / "policy.yaml").write_text("""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: jobs-have-owners.example.com}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE], resources: [jobs]}
  validations:
  - expression: "has(object.metadata.labels) && 'owner' in object.metadata.labels"
    message: a Job names its owner
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: jobs-have-owners}
spec: {policyName: jobs-have-owners.example.com, validationActions: [Deny]}
""")
    config = tmp_path / "vf-post.yaml"
    base = {"policies": [{"path": "policy.yaml"}], "rules": {"container-requests": {"enabled": False}}}
    config.write_text(json.dumps(base))
    lint = [str(VF_POST), "lint", "--config", str(config), "--format", "json", str(INGRESS)]
    denied = subprocess.run(lint, capture_output=True, text=True, check=False)
    assert denied.returncode == 1, denied.stdout + denied.stderr
    assert {f["rule"] for f in findings(denied) if f["severity"] == "error"} == {"jobs-have-owners.example.com"}
    config.write_text(json.dumps({**base, "exceptions": [
        exception(rule="jobs-have-owners.example.com", namespace="ingress-nginx")]}))
    waived = subprocess.run(lint, capture_output=True, text=True, check=False)
    assert waived.returncode == 0, waived.stdout + waived.stderr
    assert sum("exempted" in f for f in findings(waived)) == 2


HOSTILE = "fine\x1b[2J\n::error::forged\r\nvf-post: passed <x>&]]>"


def test_hostile_reason_and_owner_cannot_forge_report_lines(tmp_path):
    entries = [exception(kind="Job", reason=HOSTILE, owner=HOSTILE),
               exception(rule="no-host-network", owner=HOSTILE)]
    text = run(tmp_path, entries)
    assert text.returncode == 0, text.stderr
    assert "\x1b" not in text.stdout and "\r" not in text.stdout
    for line in text.stdout.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert not line.startswith("vf-post: passed") or line == text.stdout.splitlines()[-1]
    assert "exempted by exceptions[0] (owner fine" in text.stdout
    junit = run(tmp_path, entries, "--format", "junit")
    ET.fromstring(junit.stdout)
    # JSON keeps the text as written: its readers escape for their own output.
    reasons = [f.get("exempted", {}).get("reason") for f in findings(run(tmp_path, entries, "--format", "json"))]
    assert HOSTILE in reasons


def test_render_applies_them_too(tmp_path):
    """What Helm runs: the waived release is written; with the exception expired, nothing is."""
    stream = INGRESS.read_text()
    passed = run(tmp_path, [exception(kind="Job")], mode="render", stdin=stream)
    assert passed.returncode == 0, passed.stderr
    assert "kind: Job" in passed.stdout
    expired = run(tmp_path, [exception(kind="Job", expires="2020-01-01")], mode="render", stdin=stream)
    assert expired.returncode == 1
    assert expired.stdout == ""
    assert "exception-expired" in expired.stderr


@pytest.mark.parametrize("empty", ["", " ~", " null"])
def test_a_selector_written_without_a_value_is_refused(tmp_path, empty):
    """`kind:` with nothing after it is null in YAML; read as absent it would waive the rule
    on every kind."""
    config = tmp_path / "vf-post.yaml"
    config.write_text(f"exceptions:\n- rule: container-requests\n  kind:{empty}\n  reason: upstream\n"
                      f"  owner: platform\n  expires: {FAR}\n")
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config), str(INGRESS)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2, out.stdout
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and "line 3" in out.stderr, out.stderr
    assert "written without a value, which would match everything" in out.stderr


def test_object_identity_cannot_be_waived(tmp_path):
    out = run(tmp_path, [exception(rule="object-identity")])
    assert out.returncode == 2
    assert "object-identity cannot be waived" in out.stderr


def test_an_expired_exception_counts_only_what_it_alone_waived(tmp_path):
    """A finding the object's annotation waives is not one the expired exception stops waiving."""
    stream = INGRESS.read_text().replace(
        "  annotations:\n    \"helm.sh/hook\": pre-install,pre-upgrade\n",
        "  annotations:\n    exempt.vf-post.virtufin.io/container-requests: \"chart's own waiver\"\n"
        "    \"helm.sh/hook\": pre-install,pre-upgrade\n", 1)
    assert stream != INGRESS.read_text()
    out = run(tmp_path, [exception(kind="Job", expires="2020-01-01")], "--format", "json", stdin=stream)
    expired = [f for f in findings(out) if f["rule"] == "exception-expired"]
    assert "(1 finding no longer waived)" in expired[0]["message"], expired
