"""scripts/deploy and scripts/undeploy: one service changes, every other object stays byte for byte.

There is no cluster and no helm binary here, so the scripts run against tests/fake_helm.py, a
helm command line over the real Helm v4.2.3 engine (its docstring says exactly what is mocked).
Each test then checks the scripts' work independently: it renders the release before and after
with the real engine through vf-post, from the values files the script handed to helm upgrade,
and compares the two object by object.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, VF_POST, fake_helm_command, helm

CHART = REPO / "chart"
SERVICES_JSON = ("ConfigMap", "virtufin-services")
GATEWAY = ("Deployment", "virtufin-api")


def objects(manifest):
    """(kind, name) -> the object's exact text, hooks left out (helm get manifest has none)."""
    out = {}
    for text in re.split(r"^---\s*$", manifest, flags=re.M):
        obj = yaml.safe_load(text)
        if not obj or "helm.sh/hook" in (obj["metadata"].get("annotations") or {}):
            continue
        out[(obj["kind"], obj["metadata"]["name"])] = text.strip()
    return out


def component(text):
    return (yaml.safe_load(text)["metadata"].get("labels") or {}).get("app.kubernetes.io/component")


def render(value_texts, tmp_path):
    files = []
    for i, text in enumerate(value_texts):
        path = tmp_path / f"render-values-{len(list(tmp_path.iterdir()))}-{i}.yaml"
        path.write_text(text)
        files.append(path)
    out = helm("install", CHART, values=files, post_renderer="vf-post", args=[])
    assert out["ok"], out
    return objects(out["manifest"])


class Release:
    """A release as the fake helm keeps it, and the scripts run against it."""

    def __init__(self, tmp_path, values=None, version="v4.2.3"):
        self.tmp = tmp_path
        self.state = tmp_path / "release"
        self.state.mkdir()
        if values is not None:
            (self.state / "values.yaml").write_text(values)
            (self.state / "chart").write_text(str(CHART))
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = fake_helm_command(bin_dir)
        (bin_dir / "vf-post").symlink_to(VF_POST)  # Helm 3 runs it from PATH
        self.env = dict(os.environ, HELM=str(fake), FAKE_HELM_STATE=str(self.state),
                        FAKE_HELM_VERSION=version, PATH=f"{bin_dir}:{os.environ['PATH']}")

    def run(self, script, *args, env=None):
        return subprocess.run([str(REPO / "scripts" / script), *args], capture_output=True,
                              text=True, env={**self.env, **(env or {})})

    def calls(self):
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def values(self):
        return (self.state / "values.yaml").read_text()


def changes(before, after):
    """Added, removed and changed objects between two renders."""
    added = set(after) - set(before)
    removed = set(before) - set(after)
    changed = {k for k in set(before) & set(after) if before[k] != after[k]}
    return added, removed, changed


def only_checksum_changed(before, after):
    strip = lambda text: re.sub(r"\n\s*checksum/services-json: .*", "", text)
    return before != after and strip(before) == strip(after)


def upgrade_renders(release):
    """The render before the script (from the stored values) and after (from exactly the values
    files the script gave helm upgrade), both with the real engine through vf-post."""
    before_values = release.before_values
    (call,) = release.calls()
    return render([before_values], release.tmp), render(call["files"], release.tmp), call


def test_deploy_with_a_tag_changes_only_that_deployment(tmp_path):
    release = Release(tmp_path, values="{}\n")
    release.before_values = release.values()
    out = release.run("deploy", "workmanager", "--tag", "1.0.1")
    assert out.returncode == 0, out.stderr
    assert "deploy workmanager: image tag 1.0.0 -> 1.0.1" in out.stderr
    assert "changed Deployment/virtufin-workmanager" in out.stderr
    before, after, call = upgrade_renders(release)
    added, removed, changed = changes(before, after)
    assert (added, removed, changed) == (set(), set(), {("Deployment", "virtufin-workmanager")})
    container = yaml.safe_load(after[("Deployment", "virtufin-workmanager")])["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "harbor.virtufin.io/virtufin/workmanager:1.0.1"
    # The release's other values are kept: the next deploy starts from them.
    assert yaml.safe_load(release.values())["workmanager"]["image"]["tag"] == "1.0.1"


def test_undeploy_removes_the_service_and_its_services_json_entry_only(tmp_path):
    release = Release(tmp_path, values="{}\n")
    release.before_values = release.values()
    out = release.run("undeploy", "websocketmanager")
    assert out.returncode == 0, out.stderr
    before, after, _ = upgrade_renders(release)
    added, removed, changed = changes(before, after)
    assert added == set()
    assert {component(before[k]) for k in removed} == {"websocketmanager"}
    assert removed == {("Deployment", "virtufin-websocketmanager"), ("Service", "virtufin-websocketmanager"),
                       ("PodDisruptionBudget", "virtufin-websocketmanager")}
    assert changed == {SERVICES_JSON, GATEWAY}
    assert only_checksum_changed(before[GATEWAY], after[GATEWAY])
    services = json.loads(yaml.safe_load(after[SERVICES_JSON])["data"]["services.json"])
    assert "websocketmanager" not in json.dumps(services) and "workmanager" in json.dumps(services)
    # Components, Resiliency and Configuration: untouched, byte for byte.
    for key in before:
        if key[0] in ("Component", "Resiliency", "Configuration"):
            assert before[key] == after[key], key


def test_deploying_a_declared_backend_adds_it_and_its_services_json_entry(tmp_path):
    values = "backends:\n  reports:\n    enabled: false\n    image: {repository: virtufin/reports, tag: '2.3.1'}\n" \
             "    ports: {http: 5101, grpc: 5102}\n"
    release = Release(tmp_path, values=values)
    release.before_values = values
    out = release.run("deploy", "reports")
    assert out.returncode == 0, out.stderr
    assert "deploy reports (enabling it)" in out.stderr
    before, after, call = upgrade_renders(release)
    added, removed, changed = changes(before, after)
    assert {component(after[k]) for k in added} == {"reports"}
    assert ("Deployment", "virtufin-reports") in added and ("Service", "virtufin-reports") in added
    assert removed == set()
    assert changed == {SERVICES_JSON, GATEWAY}
    assert only_checksum_changed(before[GATEWAY], after[GATEWAY])
    assert "reports" in yaml.safe_load(after[SERVICES_JSON])["data"]["services.json"]


def test_a_new_backend_from_a_values_file_after_the_double_dash(tmp_path):
    release = Release(tmp_path, values="{}\n")
    release.before_values = release.values()
    extra = tmp_path / "reports.yaml"
    extra.write_text((CHART / "ci" / "added-backend-values.yaml").read_text())
    out = release.run("deploy", "reports", "--", "-f", str(extra), "--timeout", "5m")
    assert out.returncode == 0, out.stderr
    (call,) = release.calls()
    argv = call["argv"]
    assert argv[argv.index("--timeout") + 1] == "5m"
    before, after = render([release.before_values], tmp_path), render(call["files"], tmp_path)
    added, removed, changed = changes(before, after)
    assert {component(after[k]) for k in added} == {"reports"} and removed == set()
    # A new app id joins the Dapr objects' scopes: that is the backend's declaration, in the
    # values file the operator passed, not the script's doing.
    assert changed - {SERVICES_JSON, GATEWAY} <= {("Component", "pubsub"), ("Component", "statestore"),
                                                  ("Resiliency", "virtufin-pubsub")}


def test_first_install_deploys_that_service_alone(tmp_path):
    release = Release(tmp_path)  # no release yet
    out = release.run("deploy", "workmanager")
    assert out.returncode == 0, out.stderr
    assert "first install: workmanager only" in out.stderr
    (call,) = release.calls()
    assert "--create-namespace" in call["argv"]
    after = render(call["files"], tmp_path)
    assert {component(t) for t in after.values()} == {"workmanager", "dapr"}


@pytest.mark.parametrize("version", ["v3.20.2", "v4.2.3"])
def test_helm_command_line_for_helm_3_and_4(tmp_path, version):
    release = Release(tmp_path, values="{}\n", version=version)
    extra = tmp_path / "extra.yaml"
    extra.write_text("api: {replicas: 2}\n")
    out = release.run("deploy", "workmanager", "--tag", "1.0.1", "-r", "virtufin", "-n", "virtufin",
                      "--", "--wait", "-f", str(extra))
    assert out.returncode == 0, out.stderr
    (call,) = release.calls()
    argv = call["argv"]
    assert argv[:5] == ["upgrade", "--install", "virtufin", str(CHART), "-n"]
    assert argv[5] == "virtufin"
    # Same on both: `--post-renderer vf-post` (Helm 3: the executable on PATH; Helm 4: the
    # plugin's name), a report file for findings (Helm 4 drops stderr), values files last.
    assert argv[-3:-1] == ["--post-renderer", "vf-post"]
    assert re.fullmatch(r"--post-renderer-args=--report=.+/report\.txt", argv[-1])
    # Values files in order: the release's, the user's, then the change, so the change wins.
    f_positions = [i for i, a in enumerate(argv) if a == "-f"]
    assert len(f_positions) == 3 and f_positions[0] < argv.index("--wait") < f_positions[1]
    assert call["files"][0] == "{}\n" and call["files"][1] == "api: {replicas: 2}\n"
    assert call["files"][2] == 'workmanager: {enabled: true, image: {tag: "1.0.1"}}\n'
    assert "--create-namespace" not in argv


def test_helm_3_needs_vf_post_on_path_and_helm_4_the_plugin(tmp_path):
    release = Release(tmp_path, values="{}\n", version="v3.20.2")
    path = ":".join(p for p in release.env["PATH"].split(":")[1:] if not (Path(p) / "vf-post").exists())
    out = release.run("deploy", "workmanager", env={"PATH": path})
    assert out.returncode == 1 and "runs vf-post from PATH" in out.stderr and "scripts/install" in out.stderr
    out = release.run("deploy", "workmanager", env={"FAKE_HELM_VERSION": "v4.2.3", "FAKE_HELM_PLUGIN": "0"})
    assert out.returncode == 1 and "as a plugin" in out.stderr and "scripts/install" in out.stderr
    out = release.run("deploy", "workmanager", env={"FAKE_HELM_VERSION": "v3.8.2"})
    assert out.returncode == 1 and "--post-renderer-args" in out.stderr
    assert release.calls() == []


def test_gateway_and_last_backend_need_yes(tmp_path):
    release = Release(tmp_path, values="websocketmanager: {enabled: false}\n")
    out = release.run("undeploy", "api")
    assert out.returncode == 1 and "API gateway" in out.stderr and "--yes" in out.stderr
    out = release.run("undeploy", "workmanager")
    assert out.returncode == 1 and "last backend" in out.stderr
    assert release.calls() == []
    out = release.run("undeploy", "workmanager", "--yes")
    assert out.returncode == 0, out.stderr
    assert len(release.calls()) == 1


def test_unknown_service_lists_the_known_ones(tmp_path):
    release = Release(tmp_path, values="backends:\n  reports: {image: {repository: r, tag: '1'}, ports: {http: 1, grpc: 2}}\n")
    out = release.run("deploy", "reprots")
    assert out.returncode == 1
    assert out.stderr.strip() == (f"deploy: unknown service 'reprots' in {CHART}; known services: "
                                  "api, reports, websocketmanager, workmanager")
    assert release.calls() == []


def test_dry_run_prints_the_plan_and_diff_and_changes_nothing(tmp_path):
    release = Release(tmp_path, values="{}\n")
    out = release.run("undeploy", "websocketmanager", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "removed Deployment/virtufin-websocketmanager" in out.stderr
    assert "changed ConfigMap/virtufin-services" in out.stderr
    assert "command: " in out.stderr and "upgrade --install virtufin" in out.stderr
    assert "-kind: Deployment" in out.stdout  # the unified diff
    assert release.calls() == [] and release.values() == "{}\n"


def test_refuses_when_other_objects_would_change(tmp_path):
    """The deployed manifest came from other values (here: another gateway tag), as after a chart
    or vf-post upgrade: a single-service deploy would roll the gateway too, so it refuses."""
    release = Release(tmp_path, values="{}\n")
    stale = tmp_path / "stale.yaml"
    stale.write_text("api: {image: {tag: '0.9.0'}}\n")
    out = helm("install", CHART, values=[stale], post_renderer="vf-post", args=[])
    (release.state / "manifest.yaml").write_text(out["manifest"])
    out = release.run("deploy", "workmanager", "--tag", "1.0.1")
    assert out.returncode == 1
    assert "changed Deployment/virtufin-api" in out.stderr and "refusing" in out.stderr
    assert out.stderr.count("  changed ") == 1, out.stderr  # the gateway alone, not noise
    assert release.calls() == []


def test_usage_errors_exit_2(tmp_path):
    release = Release(tmp_path, values="{}\n")
    assert release.run("deploy").returncode == 2
    assert release.run("undeploy", "a", "b").returncode == 2
    out = release.run("deploy", "workmanager", "--tag", "bad tag")
    assert out.returncode == 1 and "not an image tag" in out.stderr
    help_text = release.run("deploy", "--help")
    assert help_text.returncode == 0 and "--dry-run" in help_text.stdout and "Exit status" in help_text.stdout
