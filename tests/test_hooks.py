"""Hooks (issue 17): Helm 3 never post-renders hooks, and Helm 4's `separate` and `nohooks`
strategies render them without the contract or not at all, so the chart's own hook pod (the
`helm test` pod) must carry the registry pull secret itself, as the chart renders it.

What the chart renders is captured by a postrenderer/v1 plugin that only copies its input
(`tee`), under the real Helm v4.2.3 engine: the hooks exactly as Helm hands them to any
post-renderer, before vf-post could touch them."""

import json
import os
import subprocess

import pytest
import yaml

from chart_support import CHART, CI
from conftest import VF_POST, helm
from validate import problems


@pytest.fixture()
def capture(tmp_path):
    plugin = tmp_path / "plugins" / "capture"
    (plugin / "bin").mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(
        "apiVersion: v1\ntype: postrenderer/v1\nname: capture\nversion: 0.1.0\nruntime: subprocess\n"
        "runtimeConfig:\n  platformCommand:\n    - command: ${HELM_PLUGIN_DIR}/bin/capture\n")
    script = plugin / "bin" / "capture"
    script.write_text(f'#!/bin/sh\ntee -a "{tmp_path / "captured.yaml"}"\n')
    script.chmod(0o755)
    return tmp_path


def hook_pods(stream):
    return [d for d in yaml.safe_load_all(stream)
            if d and d["kind"] == "Pod" and "helm.sh/hook" in d["metadata"].get("annotations", {})]


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_the_test_pod_pulls_with_the_registry_secret_without_vf_post(capture, values):
    out = helm("install", CHART, values=[str(values)], post_renderer="capture", args=[],
               env={"HELM_PLUGINS": str(capture / "plugins")})
    assert out["ok"], out
    pods = hook_pods((capture / "captured.yaml").read_text())
    if values.stem == "one-service-values" and not pods:
        return  # no gateway, no test pod
    assert len(pods) == 1
    spec = pods[0]["spec"]
    images = [c["image"] for c in spec["containers"]]
    assert all(i.startswith("harbor.virtufin.io/") for i in images), images
    assert spec.get("imagePullSecrets") == [{"name": "regcredharbor"}]


def test_vf_post_adds_no_second_pull_secret_to_the_test_pod(tmp_path):
    """Under Helm 4's combined strategy vf-post sees the hook: the secret is already there,
    so its pull-secrets pass leaves the pod alone."""
    report = tmp_path / "report.json"
    out = helm("install", CHART, post_renderer="vf-post",
               args=["--format", "json", "--show-changes", "--report", str(report)])
    assert out["ok"], out
    data = yaml.safe_load(report.read_text())
    assert data["findings"] == []
    assert not [c for c in data["changes"] if c["object"]["kind"] == "Pod" and c["by"] == "pull-secrets"]
    assert os.path.exists(VF_POST)


def test_lint_judges_hooks_as_it_judges_manifests(capture):
    """`helm template` prints hooks with the manifests; `vf-post lint` judges every one."""
    out = helm("install", CHART, post_renderer="capture", args=[], env={"HELM_PLUGINS": str(capture / "plugins")})
    assert out["ok"], out
    stream = (capture / "captured.yaml").read_text()
    assert hook_pods(stream), "the capture holds the hooks"
    unpinned = capture / "unpinned.yaml"
    unpinned.write_text(stream.replace("curlimages/curl:8.11.1", "curlimages/curl:latest"))
    assert unpinned.read_text() != stream
    report = json.loads(subprocess.run([str(VF_POST), "lint", "--format", "json", str(unpinned)],
                                       capture_output=True, text=True, check=False).stdout)
    flagged = {(f["rule"], f["object"]["kind"]) for f in report["findings"]}
    assert ("image-tag-pinned", "Pod") in flagged, flagged


def test_a_migration_job_is_a_pre_upgrade_hook_that_pulls_and_completes(capture, tmp_path):
    """The optional migration Job (issue 21): a pre-install/pre-upgrade hook in the service's
    image with its security contexts and resources, the pull secret written in (Helm 3 never
    post-renders hooks), no Dapr sidecar (it would keep the Job from completing); valid, and
    clean under vf-post lint."""
    over = tmp_path / "over.yaml"
    over.write_text("workmanager:\n  migrations: {enabled: true, command: [dotnet, Virtufin.WorkManager.dll, migrate]}\n")
    out = helm("install", CHART, values=[str(over)], post_renderer="capture", args=[],
               env={"HELM_PLUGINS": str(capture / "plugins")})
    assert out["ok"], out
    stream = (capture / "captured.yaml").read_text()
    jobs = [d for d in yaml.safe_load_all(stream) if d and d["kind"] == "Job"]
    assert [j["metadata"]["name"] for j in jobs] == ["virtufin-workmanager-migrate"]
    job = jobs[0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcredharbor"}]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert not any(k.startswith("dapr.io/") for k in (pod["metadata"].get("annotations") or {}))
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["dotnet", "Virtufin.WorkManager.dll", "migrate"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert problems(job) == []
    linted = subprocess.run([str(VF_POST), "lint", "--format", "json", str(capture / "captured.yaml")],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout
    # Asked for without a command, it is refused with the reason.
    over.write_text("workmanager:\n  migrations: {enabled: true}\n")
    out = helm("install", CHART, values=[str(over)])
    assert not out["ok"] and "workmanager.migrations.command is empty" in out["error"]
