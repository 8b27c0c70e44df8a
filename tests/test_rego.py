"""Rego policies (issue 16): conftest policies and Gatekeeper ConstraintTemplates with their
constraints, run by vf-post's Rego runtime (regorus, compiled to WebAssembly, in the sandbox),
registered under `policies:` as admission policies are. Real vf-post, real corpus charts; the
hostile cases first. The Gatekeeper library's own suites run in scripts/gatekeeper-conformance."""

import json
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import pytest
import yaml

from conftest import REPO, SHARED, VF_POST

ARGO = SHARED / "corpus" / "argo-cd.helm4.yaml"
INGRESS = SHARED / "corpus" / "ingress-nginx.helm4.yaml"
GATEKEEPER = REPO / "policies" / "gatekeeper"

CONFTEST = """package main

import rego.v1

deny contains msg if {
  input.kind == "Deployment"
  not input.spec.template.spec.securityContext.runAsNonRoot
  msg := sprintf("Deployment %s must run as non-root", [input.metadata.name])
}

warn_latest contains {"msg": sprintf("%s uses latest", [c.image]), "note": "metadata is kept"} if {
  some c in input.spec.template.spec.containers
  not contains(c.image, ":")
}

violation_job contains "no Jobs here" if input.kind == "Job"

# conftest's exceptions: the controller may run as root (rule `deny`, named "" without a suffix).
exception contains rules if {
  input.metadata.name == "ingress-nginx-controller"
  rules := [""]
}
"""


def write(tmp_path, files, config):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "vf-post.yaml").write_text(json.dumps(config))
    return tmp_path / "vf-post.yaml"


def lint(config, target, *args, engine="native"):
    return subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", "--engine", engine,
                           str(target), *args], capture_output=True, text=True, check=False)


def findings(out, origin="rego"):
    return [f for f in json.loads(out.stdout)["findings"] if f["origin"] == origin]


def refused(out, *needles):
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("engine", ["native", "wasm"])
def test_conftest_rules_judge_each_object(tmp_path, engine):
    config = write(tmp_path, {"policy/main.rego": CONFTEST}, {"policies": [{"path": "policy"}]})
    out = lint(config, INGRESS, engine=engine)
    assert out.returncode == 1, out.stderr
    got = sorted((f["rule"], f["severity"], f["object"]["name"], f["message"]) for f in findings(out))
    assert got == [
        ("main.violation_job", "error", "ingress-nginx-admission-create", "no Jobs here"),
        ("main.violation_job", "error", "ingress-nginx-admission-patch", "no Jobs here"),
    ], "the controller's deny is waived by the exception; certgen images are pinned"
    out = lint(config, ARGO, engine=engine)
    denied = {f["object"]["name"] for f in findings(out) if f["rule"] == "main.deny"}
    # The same question asked of the objects in Python.
    expected = {d["metadata"]["name"] for d in yaml.safe_load_all(ARGO.read_text())
                if d and d["kind"] == "Deployment"
                and not (d["spec"]["template"]["spec"].get("securityContext") or {}).get("runAsNonRoot")}
    assert denied == expected and len(expected) == 5, denied


def test_conftest_combine_gives_the_release_as_one_input(tmp_path):
    policy = """package main
import rego.v1
deny contains msg if {
  names := [o.contents.metadata.name | some o in input; o.contents.kind == "Service"]
  count(names) > 3
  msg := sprintf("%d Services: %v", [count(names), names])
}
paths contains p if { some o in input; p := o.path }
deny contains "every object has its template as path" if { some p in paths; not endswith(p, ".yaml") }
"""
    config = write(tmp_path, {"p/combined.rego": policy},
                   {"policies": [{"path": "p", "rego": {"combine": True}}]})
    out = lint(config, ARGO)
    got = findings(out)
    services = [d["metadata"]["name"] for d in yaml.safe_load_all(ARGO.read_text()) if d and d["kind"] == "Service"]
    assert len(got) == 1 and "object" not in got[0], got
    assert got[0]["message"] == f"{len(services)} Services: {json.dumps(services, separators=(', ', ': '))}"


def test_conftest_namespaces_and_rego_v0(tmp_path):
    v0 = 'package k8s.security\n\ndeny[msg] {\n  input.kind == "Job"\n  msg := "v0 syntax"\n}\n'
    config = write(tmp_path, {"p/v0.rego": v0},
                   {"policies": [{"path": "p", "rego": {"namespaces": ["k8s.security"], "version": "v0"}}]})
    out = lint(config, INGRESS)
    assert {f["rule"] for f in findings(out)} == {"k8s.security.deny"}
    # v0 syntax read as v1 (conftest's default) is refused naming the file.
    config = write(tmp_path, {}, {"policies": [{"path": "p", "rego": {"namespaces": ["k8s.security"]}}]})
    refused(lint(config, INGRESS), "p/v0.rego")
    # A namespace no file declares would check nothing: refused.
    config = write(tmp_path, {}, {"policies": [{"path": "p", "rego": {"version": "v0"}}]})
    refused(lint(config, INGRESS), 'no policy is in namespace "main"', "k8s.security")


@pytest.mark.parametrize("engine", ["native", "wasm"])
def test_gatekeeper_constraints_judge_the_release(tmp_path, engine):
    config = write(tmp_path, {}, {"policies": [{"path": str(GATEKEEPER / "template.yaml")},
                                               {"path": str(GATEKEEPER / "constraint.yaml")}]})
    out = lint(config, ARGO, engine=engine)
    got = findings(out)
    assert got, out.stderr
    assert {f["rule"] for f in got} == {"memory-limits"}
    assert {f["severity"] for f in got} == {"warning"}, "enforcementAction: warn"
    assert any(f["message"] == "container server of Deployment argocd-server has no memory limit" for f in got)
    # ingress-nginx: the certgen Jobs' image is exempt by parameter; the controller is not.
    out = lint(config, INGRESS, engine=engine)
    assert sorted({f["object"]["name"] for f in findings(out)}) == ["ingress-nginx-controller"]


def test_vf_post_test_runs_gator_suites_as_text_and_junit(tmp_path):
    out = subprocess.run([str(VF_POST), "test", str(GATEKEEPER)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "vf-post test: passed (4 passed, 0 failed, 0 skipped)\n"
    junit = subprocess.run([str(VF_POST), "test", "--format", "junit", str(GATEKEEPER / "suite.yaml")],
                           capture_output=True, text=True, check=False)
    root = ET.fromstring(junit.stdout)
    assert [c.get("name") for c in root.iter("testcase")] == [
        "limited", "unlimited", "excluded-namespace", "delete-reviews-the-old-object"]
    # A wrong expectation fails the run, naming the case and what was found.
    suite = (GATEKEEPER / "suite.yaml").read_text().replace("    - violations: 2\n", "    - violations: 3\n")
    for name in ("template.yaml", "constraint.yaml", "limited.yaml", "unlimited.yaml", "in-kube-system.yaml",
                 "deleting.yaml"):
        (tmp_path / name).write_text((GATEKEEPER / name).read_text())
    (tmp_path / "suite.yaml").write_text(suite)
    out = subprocess.run([str(VF_POST), "test", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "FAIL " in out.stdout and "memory-limits/unlimited: got 2 violations but want exactly 3" in out.stdout
    assert out.stdout.endswith("vf-post test: failed (3 passed, 1 failed, 0 skipped)\n")


# Hostile: each must stop the run (exit 2), one line naming the culprit, nothing on stdout.

def test_a_policy_that_never_ends_is_stopped_by_the_sandbox_and_named(tmp_path):
    slow = "package main\nimport rego.v1\ndeny contains x if { x := count([n | some n in numbers.range(1, 100000000)]) }\n"
    fine = "package fine\nimport rego.v1\ndeny contains \"never\" if false\n"
    config = write(tmp_path, {"p/slow.rego": slow, "q/fine.rego": fine},
                   {"sandbox": {"timeoutMs": 1000},
                    "policies": [{"path": "p"}, {"path": "q", "rego": {"namespaces": ["fine"]}}]})
    out = lint(config, INGRESS)
    refused(out, "rego", "main.deny")


def test_a_memory_bomb_is_stopped_by_the_sandbox(tmp_path):
    bomb = ('package main\nimport rego.v1\n'
            'deny contains "x" if { s := concat("", [x | some i in numbers.range(1, 200000); x := sprintf("%0200d", [i])]); count(s) > 0 }\n')
    config = write(tmp_path, {"p/bomb.rego": bomb}, {"sandbox": {"memoryMib": 16}, "policies": [{"path": "p"}]})
    refused(lint(config, INGRESS), "rego")


@pytest.mark.parametrize("body, needle", [
    ('deny contains "x" if { http.send({"method": "get", "url": "http://169.254.169.254/"}) }', "p/p.rego"),
    # No randomness in the sandbox: the runtime traps, and the host names the rule.
    ('deny contains x if { x := rand.intn("k", 10) }', "while evaluating conftest rule data.main.deny"),
    ('deny contains {"message": "no msg"} if true', "without a string `msg`"),
    ('deny contains x if { x := 1 / 0 }', "p/p.rego"),
    ('deny contains x if {', "p/p.rego"),
])
def test_policies_that_cannot_run_stop_the_release(tmp_path, body, needle):
    config = write(tmp_path, {"p/p.rego": "package main\nimport rego.v1\n" + body + "\n"},
                   {"policies": [{"path": "p"}]})
    refused(lint(config, INGRESS), needle)


def test_the_sandbox_gives_no_environment_or_clock(tmp_path):
    peek = ('package main\nimport rego.v1\n'
            'warn_env contains sprintf("env %v", [opa.runtime().env]) if true\n')
    config = write(tmp_path, {"p/p.rego": peek}, {"policies": [{"path": "p"}]})
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", str(INGRESS)],
                         capture_output=True, text=True, check=False, env={"SECRET_TOKEN": "hunter2", "PATH": "/usr/bin"})
    assert "hunter2" not in out.stdout + out.stderr
    now = 'package main\nimport rego.v1\nwarn_now contains sprintf("%v", [time.now_ns()]) if true\n'
    config = write(tmp_path, {"p/p.rego": now}, {"policies": [{"path": "p"}]})
    refused(lint(config, INGRESS), "p/p.rego")


@pytest.mark.parametrize("edit, needle", [
    (lambda c: c.replace("kind: VfMemoryLimits", "kind: VfOther"), "no ConstraintTemplate declares its kind"),
    (lambda c: c.replace("    excludedNamespaces:", "    excludedNamespacez:"), "unknown field `excludedNamespacez`"),
    (lambda c: c.replace("enforcementAction: warn", "enforcementAction: block"), 'unknown enforcement action "block"'),
])
def test_constraints_gatekeeper_would_refuse_stop_the_release(tmp_path, edit, needle):
    constraint = edit((GATEKEEPER / "constraint.yaml").read_text())
    config = write(tmp_path, {"constraint.yaml": constraint},
                   {"policies": [{"path": str(GATEKEEPER / "template.yaml")}, {"path": "constraint.yaml"}]})
    refused(lint(config, INGRESS), "constraint.yaml", needle)


def test_a_violation_message_cannot_forge_report_lines(tmp_path):
    policy = ('package main\nimport rego.v1\n'
              'deny contains "ok\\u001b[2J\\n::error::forged\\nvf-post: passed" if input.kind == "Job"\n')
    config = write(tmp_path, {"p/p.rego": policy}, {"policies": [{"path": "p"}]})
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config), "--color", "never", str(INGRESS)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "\x1b" not in out.stdout
    lines = out.stdout.splitlines()
    assert not any(line.lstrip().startswith("::") for line in lines)
    assert [line for line in lines if line.startswith("vf-post:")] == [lines[-1]]


def test_policy_tests_of_the_examples_pass_and_wrong_expectations_fail(tmp_path):
    """vf-post's own test format (PolicyTest) for built-in rules, CEL and conftest policies, and
    gator's Suite for the Gatekeeper example: every example in policies/ carries one."""
    out = subprocess.run([str(VF_POST), "test", str(REPO / "policies")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "vf-post test: passed (7 passed, 0 failed, 0 skipped)\n"
    shutil.copytree(REPO / "policies" / "conftest", tmp_path / "conftest")
    test = tmp_path / "conftest" / "workloads.test.yaml"
    test.write_text(test.read_text().replace("message: \"has no `team` label\"", "name: web"))
    expected_out = tmp_path / "conftest" / "cases" / "workloads.out.yaml"
    expected_out.write_text(expected_out.read_text().replace("replicas: 3", "replicas: 4"))
    out = subprocess.run([str(VF_POST), "test", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "no finding of main.deny on Deployment web as expected; found main.deny on Deployment worker" in out.stdout
    test.write_text((REPO / "policies" / "conftest" / "workloads.test.yaml").read_text())
    out = subprocess.run([str(VF_POST), "test", str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert 'object 1 of the output differs from cases/workloads.out.yaml: [{"op":"replace","path":"/spec/replicas","value":3}]' in out.stdout


# Found by attacking the runtime: what Gatekeeper sees that vf-post must see too.

def constraint_template(kind, rego):
    """A Gatekeeper ConstraintTemplate for constraints of `kind`, its Rego as given (the
    package is the kind, lowercased, as Gatekeeper asks)."""
    name = kind.lower()
    body = textwrap.indent(f"package {name}\n" + textwrap.dedent(rego).lstrip("\n"), " " * 8)
    return (f"apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {{name: {name}}}\n"
            f"spec:\n  crd: {{spec: {{names: {{kind: {kind}}}}}}}\n  targets:\n"
            f"    - target: admission.k8s.gatekeeper.sh\n      rego: |\n{body}")


NAMESPACE_TEMPLATE = constraint_template("VfNamespaces", """
    violation[{"msg": msg}] {
      input.review.object.metadata.namespace == "default"
      msg := sprintf("%v is in default", [input.review.object.metadata.name])
    }
    violation[{"msg": msg}] {
      input.review.namespaceObject.metadata.labels.env == "prod"
      msg := sprintf("%v is in a prod namespace", [input.review.object.metadata.name])
    }
""")

CONSTRAINT = """apiVersion: constraints.gatekeeper.sh/v1beta1
kind: VfNamespaces
metadata: {name: %s}
spec:
  enforcementAction: %s
  scopedEnforcementActions:
    - action: deny
      enforcementPoints: [{name: validation.gatekeeper.sh}]
  match:
    namespaces: ["*efaul*", "team-*"]
"""

STREAM = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: helm-namespace}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: written, namespace: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-prod, labels: {env: prod}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: in-prod, namespace: team-prod}
"""


@pytest.mark.parametrize("action", ["scoped", '""'])
def test_the_review_is_the_admitted_object_with_its_namespace(tmp_path, action):
    """The API server fills in the namespace before admission, Gatekeeper (3.22) gives the
    namespace object, `*infix*` wildcards match, a constraint scoped to the admission webhook
    is enforced (vf-post stands in for it), and an empty action is `deny`."""
    config = write(tmp_path, {"t.yaml": NAMESPACE_TEMPLATE, "c.yaml": CONSTRAINT % ("ns-rules", action),
                              "release.yaml": STREAM},
                   {"admission": {"namespace": "default"}, "policies": [{"path": "t.yaml"}, {"path": "c.yaml"}]})
    out = lint(config, tmp_path / "release.yaml")
    got = sorted((f["object"]["name"], f["severity"], f["message"]) for f in findings(out))
    assert got == [
        ("helm-namespace", "error", "helm-namespace is in default"),
        ("in-prod", "error", "in-prod is in a prod namespace"),
        ("written", "error", "written is in default"),
    ], out.stdout + out.stderr


def test_a_constraint_cannot_take_a_builtin_rule_id(tmp_path):
    config = write(tmp_path, {"t.yaml": NAMESPACE_TEMPLATE, "c.yaml": CONSTRAINT % ("container-requests", "deny")},
                   {"policies": [{"path": "t.yaml"}, {"path": "c.yaml"}]})
    refused(lint(config, INGRESS), "a built-in rule's id")


def test_conftest_entries_with_the_same_options_are_one_run(tmp_path):
    a = 'package main\nimport rego.v1\ndeny contains "a" if input.kind == "Job"\n'
    b = 'package main\nimport rego.v1\nwarn contains "b" if input.kind == "Job"\n'
    config = write(tmp_path, {"a/a.rego": a, "b/b.rego": b}, {"policies": [{"path": "a"}, {"path": "b"}]})
    out = lint(config, INGRESS)
    assert {(f["rule"], f["message"]) for f in findings(out)} == {("main.deny", "a"), ("main.warn", "b")}


def test_vf_post_test_reads_bounded_files_and_refuses_to_test_nothing(tmp_path):
    suite = (GATEKEEPER / "suite.yaml").read_text().replace("object: limited.yaml", "object: /dev/zero")
    for name in ("template.yaml", "constraint.yaml", "unlimited.yaml", "in-kube-system.yaml", "deleting.yaml"):
        (tmp_path / name).write_text((GATEKEEPER / name).read_text())
    (tmp_path / "suite.yaml").write_text(suite)
    out = subprocess.run([str(VF_POST), "test", str(tmp_path)], capture_output=True, text=True, check=False,
                         timeout=60)
    assert out.returncode == 1
    assert "/dev/zero is not a regular file" in out.stdout
    (tmp_path / "not-object.yaml").write_text("just a string\n")
    (tmp_path / "suite.yaml").write_text(suite.replace("object: /dev/zero", "object: not-object.yaml"))
    out = subprocess.run([str(VF_POST), "test", str(tmp_path)], capture_output=True, text=True, check=False)
    assert "not-object.yaml is not a Kubernetes object" in out.stdout or "not-object.yaml holds 0 objects" in out.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    out = subprocess.run([str(VF_POST), "test", str(empty)], capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "no Suite or PolicyTest files" in out.stderr


CEL_TEMPLATE = REPO / "tests" / "gatekeeper" / "cel"


@pytest.mark.parametrize("target", [ARGO, INGRESS], ids=["argo-cd", "ingress-nginx"])
def test_a_template_in_cel_decides_as_the_same_template_in_rego(tmp_path, target):
    """Templates with CEL code only run in the CEL runtime as Gatekeeper runs them (a
    ValidatingAdmissionPolicy with the constraint as its parameter and Gatekeeper's match
    conditions): the same policy written in CEL and in Rego flags the same objects, alike."""
    config = write(tmp_path, {}, {"policies": [
        {"path": str(GATEKEEPER / "template.yaml")}, {"path": str(GATEKEEPER / "constraint.yaml")},
        {"path": str(CEL_TEMPLATE / "template.yaml")}, {"path": str(CEL_TEMPLATE / "constraint.yaml")}]})
    out = lint(config, target)
    assert out.returncode in (0, 1), out.stderr
    report = json.loads(out.stdout)["findings"]
    rego = {(f["object"]["kind"], f["object"]["name"]) for f in report if f["rule"] == "memory-limits"}
    cel = {(f["object"]["kind"], f["object"]["name"]) for f in report if f["rule"] == "memory-limits-cel"}
    assert rego and cel == rego
    assert {f["severity"] for f in report if f["rule"] == "memory-limits-cel"} == {"warning"}
    assert {f["origin"] for f in report if f["rule"] == "memory-limits-cel"} == {"cel-validating"}


INVENTORY_TEMPLATE = constraint_template("VfUniqueHost", """
    identical(obj, review) {
      obj.metadata.namespace == review.object.metadata.namespace
      obj.metadata.name == review.object.metadata.name
    }
    violation[{"msg": msg}] {
      host := input.review.object.data.host
      other := data.inventory.namespace[ns][_]["ConfigMap"][name]
      other.data.host == host
      not identical(other, input.review)
      msg := sprintf("host %v is also claimed by %v/%v", [host, ns, name])
    }
""")

INVENTORY_STREAM = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {host: shop.example.com}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: apps}
data: {host: shop.example.com}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: apps}
data: {host: other.example.com}
"""


def test_data_inventory_is_the_release_as_admitted(tmp_path):
    """data.inventory holds the release's objects with their namespace filled in, so a policy
    finds the object under review among them and tells it from the others."""
    constraint = "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: VfUniqueHost\nmetadata: {name: unique-host}\n"
    config = write(tmp_path, {"t.yaml": INVENTORY_TEMPLATE, "c.yaml": constraint, "release.yaml": INVENTORY_STREAM},
                   {"admission": {"namespace": "apps"}, "policies": [{"path": "t.yaml"}, {"path": "c.yaml"}]})
    out = lint(config, tmp_path / "release.yaml")
    got = sorted((f["object"]["name"], f["message"]) for f in findings(out))
    assert got == [("a", "host shop.example.com is also claimed by apps/b"),
                   ("b", "host shop.example.com is also claimed by apps/a")], out.stdout + out.stderr
