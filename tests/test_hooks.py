"""Hooks (issue 17): Helm 3 never post-renders hooks, and Helm 4's `separate` and `nohooks`
strategies render them without the contract or not at all, so the chart's own hook pod (the
`helm test` pod) must carry the registry pull secret itself, as the chart renders it.

What the chart renders is captured by a postrenderer/v1 plugin that only copies its input
(`tee`), under the real Helm v4.2.3 engine: the hooks exactly as Helm hands them to any
post-renderer, before vf-post could touch them."""

import json
import os
import re
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


def captured(capture, *values):
    """Installs the chart (client dry run) with the capture post-renderer: Helm's result, and
    the stream it handed over, hooks included (this install's alone)."""
    (capture / "captured.yaml").unlink(missing_ok=True)
    out = helm("install", CHART, values=[str(v) for v in values], post_renderer="capture", args=[],
               env={"HELM_PLUGINS": str(capture / "plugins")})
    assert out["ok"], out
    return out, (capture / "captured.yaml").read_text()


def hook_pods(stream):
    return [d for d in yaml.safe_load_all(stream)
            if d and d["kind"] == "Pod" and "helm.sh/hook" in d["metadata"].get("annotations", {})]


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_the_test_pod_pulls_with_the_registry_secret_without_vf_post(capture, values):
    _, stream = captured(capture, values)
    pods = hook_pods(stream)
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
    _, stream = captured(capture)
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
    post-renders hooks), no Dapr sidecar unless asked (it would keep the Job from completing);
    valid, and clean under vf-post lint."""
    over = tmp_path / "over.yaml"
    over.write_text("workmanager:\n  migrations: {enabled: true, command: [dotnet, Virtufin.WorkManager.dll, migrate]}\n")
    out, stream = captured(capture, over)
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


def test_a_migration_job_gets_a_sidecar_only_when_asked_in_the_components_scopes(capture, tmp_path):
    """migrations.dapr: the Job's pod carries its own Dapr annotations (hooks are not
    post-rendered on Helm 3) under an app id of its own, which the Components' scopes admit;
    valid and clean under vf-post lint. A service without a sidecar cannot ask for one."""
    over = tmp_path / "over.yaml"
    over.write_text("workmanager:\n  migrations: {enabled: true, dapr: true, command: [migrate]}\n")
    out, stream = captured(capture, over)
    objects = [d for d in yaml.safe_load_all(stream) if d]
    job = next(d for d in objects if d["kind"] == "Job")
    assert job["spec"]["template"]["metadata"]["annotations"] == {
        "dapr.io/enabled": "true", "dapr.io/app-id": "workmanager-migrate", "dapr.io/log-level": "info",
        "dapr.io/enable-api-logging": "false", "dapr.io/enable-metrics": "true", "dapr.io/metrics-port": "9090",
        "dapr.io/sidecar-cpu-request": "100m", "dapr.io/sidecar-memory-request": "64Mi",
        "dapr.io/sidecar-cpu-limit": "500m", "dapr.io/sidecar-memory-limit": "256Mi"}
    assert problems(job) == []
    manifest = yaml.safe_load_all(out["manifest"])
    scopes = [d["scopes"] for d in manifest if d and d["kind"] == "Component"]
    assert scopes and all("workmanager-migrate" in s and "workmanager" in s for s in scopes), scopes
    linted = subprocess.run([str(VF_POST), "lint", "--format", "json", str(capture / "captured.yaml")],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout
    # The chart's extra Dapr annotations reach the Job's sidecar too, but never dapr.io/config:
    # on a first install the Configuration does not exist yet when pre-install hooks run.
    over.write_text("dapr:\n  annotations: {dapr.io/config: virtufin, dapr.io/log-as-json: 'true'}\n"
                    "workmanager:\n  migrations: {enabled: true, dapr: true, command: [migrate]}\n")
    _, stream = captured(capture, over)
    job = next(d for d in yaml.safe_load_all(stream) if d and d["kind"] == "Job")
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["dapr.io/log-as-json"] == "true" and "dapr.io/config" not in annotations, annotations
    over.write_text("workmanager:\n  dapr: {enabled: false}\n  migrations: {enabled: true, dapr: true, command: [migrate]}\n")
    out = helm("install", CHART, values=[str(over)])
    assert not out["ok"] and "workmanager.migrations.dapr: the service runs no Dapr sidecar" in out["error"], out
    over.write_text("workmanager:\n  dapr: {appId: " + "w" * 55 + "}\n  migrations: {enabled: true, dapr: true, command: [migrate]}\n")
    out = helm("install", CHART, values=[str(over)])
    assert not out["ok"] and "is longer than 58 characters" in out["error"], out


# What vf-post writes for one app alone: its id, its port and health checks, and the
# Configuration, which does not exist yet when a first install's pre-install hooks run.
APP_OWN = {"dapr.io/app-id", "dapr.io/app-port", "dapr.io/app-protocol", "dapr.io/config",
           "dapr.io/enable-app-health-check", "dapr.io/app-health-check-path",
           "dapr.io/app-health-probe-interval", "dapr.io/app-health-probe-timeout",
           "dapr.io/app-health-threshold"}


def test_the_migration_sidecar_runs_with_the_services_sidecar_settings(capture, tmp_path):
    """The migration Job writes its Dapr annotations itself (Helm 3 never post-renders hooks):
    a second copy of what vf-post writes from the contract (plugin/src/transform/dapr.rs). This
    keeps the two equal: every sidecar-wide setting vf-post puts on the service's pods is on
    the Job's, and none of the app's own. Found by writing it: `dapr.enableApiLogging` was
    missing from the Job."""
    over = tmp_path / "over.yaml"
    over.write_text("dapr:\n  logLevel: debug\n  enableApiLogging: true\n"
                    "  annotations: {dapr.io/log-as-json: 'true'}\n"
                    "workmanager:\n  dapr: {annotations: {dapr.io/max-body-size: 8Mi}}\n"
                    "  migrations: {enabled: true, dapr: true, command: [migrate]}\n")
    _, stream = captured(capture, over)
    rendered = subprocess.run([str(VF_POST), "--audit", "-q"], input=stream, capture_output=True,
                              text=True, check=True).stdout
    objects = [d for d in yaml.safe_load_all(rendered) if d]
    job = next(d for d in objects if d["kind"] == "Job")
    service = next(d for d in objects
                   if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("workmanager"))

    def dapr(workload, leave_out):
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("dapr.io/") and k not in leave_out}

    assert dapr(job, {"dapr.io/app-id"}) == dapr(service, APP_OWN)
    assert dapr(job, set())["dapr.io/enable-api-logging"] == "true"


def test_production_values_turn_everything_on_and_the_release_passes_vf_post(capture, tmp_path):
    """chart/ci/production-values.yaml (issue 21): autoscalers, spreading, rolling updates,
    network policies, Prometheus monitors and the migration Job, all at once. Every object
    Helm hands over, hooks included, is valid against the Kubernetes 1.36 (and newest) and
    Prometheus Operator schemas, and vf-post lint finds nothing, with the default-deny rule turned on."""
    values = CHART / "ci" / "production-values.yaml"
    _, text = captured(capture, values)
    stream = capture / "captured.yaml"
    objects = [d for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"] for d in objects}
    assert {"HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PodMonitor", "Job",
            "PodDisruptionBudget"} <= kinds, kinds
    for obj in objects:
        if obj["kind"] != "PostRenderContract":
            # The deployment plans name Kubernetes 1.36; the newest schemas are checked too.
            for version in ("1.36.0", None):
                assert problems(obj, *([version] if version else [])) == [], (version, obj["kind"], obj["metadata"]["name"])
    for deployment in (d for d in objects if d["kind"] == "Deployment"):
        spec = deployment["spec"]
        assert "replicas" not in spec, "the autoscaler owns the replicas"
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert spec["template"]["spec"]["topologySpreadConstraints"]
    # `helm test` still reaches the gateway: a policy of the gateway admits the test pod.
    test_pod = next(d for d in objects if d["kind"] == "Pod")
    gateway = next(d for d in objects if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "virtufin-api")
    peers = [p["podSelector"]["matchLabels"] for r in gateway["spec"]["ingress"] for p in r["from"]
             if "podSelector" in p and "namespaceSelector" not in p]
    assert any(peer.items() <= test_pod["metadata"]["labels"].items() for peer in peers), peers
    config = tmp_path / "vf-post.yaml"
    config.write_text("rules:\n  network-default-deny: {enabled: true}\n")
    linted = subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", str(stream)],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert json.loads(linted.stdout)["findings"] == []
    # Without the network policies the same lint warns on every Deployment (hooks are left out:
    # they run before the release's policies exist on a first install).
    plain = tmp_path / "plain.yaml"
    chunks = re.split(r"(?m)^---\n", stream.read_text())
    kept = [c for c in chunks if not re.search(r"(?m)^kind: NetworkPolicy$", c)]
    assert len(kept) == len(chunks) - 5
    plain.write_text("---\n".join(kept))
    warned = json.loads(subprocess.run([str(VF_POST), "lint", "--config", str(config), "--format", "json", str(plain)],
                                       capture_output=True, text=True, check=False).stdout)
    flagged = {(f["object"]["kind"], f["object"]["name"], f["rule"]) for f in warned["findings"]}
    assert flagged == {("Deployment", f"virtufin-{s}", "network-default-deny")
                       for s in ("api", "workmanager", "websocketmanager")}, flagged
