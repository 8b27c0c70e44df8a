"""`--show-changes` (issue 18): what vf-post changed, per object and per pass or policy, as
RFC 6902 JSON Patches. The judge is an independent RFC 6902 implementation (python-jsonpatch):
applying every reported patch, in order, to the objects Helm handed over must give exactly the
objects vf-post wrote, on the chart and on every corpus chart."""

import json
import subprocess
import textwrap

import jsonpatch
import pytest
import yaml

from chart_support import CHART
from conftest import REPO, SHARED, VF_POST, helm

CORPUS = sorted((SHARED / "corpus").glob("*.yaml"))
# Every object changes: the common annotations reach those no other pass touches.
ANNOTATED = {"transforms": {"commonAnnotations": {"platform.virtufin.io/owner": "platform"}}}


def chart_stream(tmp_path):
    out = helm("install", CHART, release="virtufin", namespace="virtufin")
    assert out["ok"], out
    path = tmp_path / "release.yaml"
    path.write_text(out["manifest"])
    return path


def render(tmp_path, stream_text, config, *args, engine="native"):
    """vf-post as Helm runs it, with --show-changes: (post-rendered objects, JSON report)."""
    config_path = tmp_path / "vf-post.yaml"
    config_path.write_text(json.dumps(config))
    report = tmp_path / "report.json"
    out = subprocess.run([str(VF_POST), "--show-changes", "--audit", "--format", "json", "--report", str(report),
                          "--config", str(config_path), "--engine", engine, *args],
                         input=stream_text, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout, json.loads(report.read_text())


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("namespace"), meta.get("name"))


def replay(before_text, changes):
    """The input's objects with every reported patch applied in order, by identity."""
    by_key = {}
    for obj in objects(before_text):
        assert key(obj) not in by_key, f"two objects {key(obj)}: identity would be ambiguous"
        by_key[key(obj)] = obj
    for change in changes:
        o = change["object"]
        k = (o["kind"], o.get("namespace"), o["name"])
        by_key[k] = jsonpatch.apply_patch(by_key.get(k, {}), change["patch"])
    return by_key


@pytest.mark.parametrize("file", CORPUS + [None], ids=lambda p: p.name if p else "chart")
def test_the_patches_account_for_every_difference(file, tmp_path):
    stream = file or chart_stream(tmp_path)
    before = stream.read_text()
    after_text, report = render(tmp_path, before, ANNOTATED)
    after = {key(o): o for o in objects(after_text)}
    replayed = replay(before, report["changes"])
    # The chart's contract is vf-post's own and never leaves it.
    contracts = [k for k in replayed if k not in after]
    assert all(k[0] == "PostRenderContract" for k in contracts), contracts
    for k in contracts:
        del replayed[k]
    assert replayed == after
    assert report["changes"], "the common annotations change every object"
    assert {c["by"] for c in report["changes"]} <= {"dapr", "probes", "pull-secrets", "services-json",
                                                    "common-annotations"}
    if file is None:
        by = {c["by"] for c in report["changes"]}
        assert by == {"dapr", "probes", "pull-secrets", "services-json", "common-annotations"}
        made = [c for c in report["changes"] if c["patch"][0]["path"] == ""]
        assert [(c["by"], c["object"]["kind"]) for c in made] == [("services-json", "ConfigMap")]


def test_both_engines_report_the_same_changes(tmp_path):
    before = chart_stream(tmp_path).read_text()
    _, native = render(tmp_path, before, ANNOTATED)
    _, wasm = render(tmp_path, before, ANNOTATED, engine="wasm")
    assert native["changes"] == wasm["changes"]


def json_patch_policy(name, resources, expression):
    """A MutatingAdmissionPolicy `<name>.example.com` on CREATE of core `resources`, whose one
    mutation is the JSONPatch CEL `expression`, and its binding."""
    body = textwrap.indent(textwrap.dedent(expression).strip("\n"), " " * 8)
    return f"""
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {{name: {name}.example.com}}
spec:
  matchConstraints:
    resourceRules:
    - {{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: {json.dumps(resources)}}}
  reinvocationPolicy: Never
  mutations:
  - patchType: JSONPatch
    jsonPatch:
      expression: >-
{body}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec: {{policyName: {name}.example.com}}
"""


MUTATING = json_patch_policy("stamp", ["configmaps", "secrets"], """
        object.kind == "Secret"
        ? [JSONPatch{op: "replace", path: "/data/password", value: "bmV3LXNlY3JldA=="}]
        : [JSONPatch{op: "add", path: "/data/copied", value: "hunter2-topsecret"},
           JSONPatch{op: "add", path: "/metadata/labels", value: {"x\\u001b[2J\\n::error::forged": "1"}}]
""")

STREAM = """---
# Source: demo/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: db}
data: {password: aHVudGVyMi10b3BzZWNyZXQ=}
---
# Source: demo/templates/settings.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {app: demo}}
data: {mode: fast}
"""


@pytest.mark.parametrize("engine", ["native", "wasm"])
def test_a_policy_change_is_named_after_it_and_secret_values_stay_masked(tmp_path, engine):
    (tmp_path / "stamp.yaml").write_text(MUTATING)
    after_text, report = render(tmp_path, STREAM, {"policies": [{"path": "stamp.yaml"}]}, engine=engine)
    changes = report["changes"]
    assert [(c["by"], c["object"]["kind"], c["object"]["name"], c["object"]["source"]) for c in changes] == [
        ("stamp.example.com", "Secret", "db", "demo/templates/secret.yaml"),
        ("stamp.example.com", "ConfigMap", "settings", "demo/templates/settings.yaml"),
    ]
    text = json.dumps(changes)
    # The old and the new password, in any form a report could carry, never appear.
    for secret in ("hunter2-topsecret", "aHVudGVyMi10b3BzZWNyZXQ=", "new-secret", "bmV3LXNlY3JldA=="):
        assert secret not in text
    assert changes[0]["patch"] == [{"op": "replace", "path": "/data/password", "value": "***"}]
    assert {"op": "add", "path": "/data/copied", "value": "***"} in changes[1]["patch"]
    # ...while the release carries them: the report masks, the output is what was asked.
    assert "bmV3LXNlY3JldA==" in after_text


def test_the_text_list_cannot_be_forged_by_a_key(tmp_path):
    (tmp_path / "stamp.yaml").write_text(MUTATING)
    config = tmp_path / "vf-post.yaml"
    config.write_text(json.dumps({"policies": [{"path": "stamp.yaml"}]}))
    out = subprocess.run([str(VF_POST), "lint", "--show-changes", "--color", "never", "--config", str(config), "-"],
                         input=STREAM, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout
    assert not any(line.lstrip().startswith("::") for line in out.stdout.splitlines())
    assert "changes:\n  stamp.example.com  Secret db: replace /data/password\n" in out.stdout
    # The policy's label key reaches the path, escaped: no terminal control, no line break.
    assert ("  stamp.example.com  ConfigMap settings: remove /metadata/labels/app, "
            "add /metadata/labels/x\\u{1b}[2J\\u{a}::error::forged, add /data/copied\n") in out.stdout


def test_without_the_flag_nothing_is_listed(tmp_path):
    stream = chart_stream(tmp_path)
    for fmt in ("json", "text"):
        out = subprocess.run([str(VF_POST), "lint", "--format", fmt, str(stream)],
                             capture_output=True, text=True, check=False, cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert "changes" not in (json.loads(out.stdout) if fmt == "json" else out.stdout)


LEAKING = json_patch_policy("leak", ["configmaps"], """
        [JSONPatch{op: "add", path: "/metadata/labels", value: {"Sup3rS3cretPw": "x"}},
         JSONPatch{op: "add", path: "/data/" + jsonpatch.escapeKey("pa/ss~word-42"), value: "y"}]
""")

# The second password's base64 wrapped over two lines, as Go's decoder (the API server's)
# reads it.
SECRETS = """---
apiVersion: v1
kind: Secret
metadata: {name: db}
data:
  password: U3VwM3JTM2NyZXRQdw==
  other: |
    cGEvc3N+
    d29yZC00Mg==
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
"""


def test_secrets_stay_masked_in_keys_paths_and_wrapped_base64(tmp_path):
    (tmp_path / "leak.yaml").write_text(LEAKING)
    after_text, report = render(tmp_path, SECRETS, {"policies": [{"path": "leak.yaml"}]})
    assert "Sup3rS3cretPw" in after_text, "the release carries what the policy wrote"
    changes = report["changes"]
    text = json.dumps(changes)
    for secret in ("Sup3rS3cretPw", "pa/ss~word-42", "pa~1ss~0word-42", "cGEvc3N+d29yZC00Mg=="):
        assert secret not in text, secret
    assert [c["masked"] for c in changes] == [True]
    config = tmp_path / "vf-post.yaml"
    out = subprocess.run([str(VF_POST), "lint", "--show-changes", "--color", "never", "--config", str(config), "-"],
                         input=SECRETS, capture_output=True, text=True, check=False)
    assert "pa~1ss~0word-42" not in out.stdout and "Sup3rS3cretPw" not in out.stdout
    assert "add /data/***" in out.stdout, out.stdout
