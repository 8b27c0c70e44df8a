"""vf-post as a Helm 4 postrenderer/v1 plugin on the Virtufin chart (issue 4): every ci/
values file, every post-render strategy, checked against what the values call for."""

import json
import subprocess

import pytest

from chart_support import CHART, CI, CONTRACT, merged_values, render, services, sha256
from conftest import VF_POST, helm
from validate import docs, problems

STRATEGIES = [None, "separate", "nohooks"]


def pod_template(obj):
    return obj["spec"]["template"]


def expect_release(values, objects):
    """Asserts the post-rendered objects carry what `values` call for."""
    svcs = services(values)
    assert CONTRACT not in objects, "the contract never reaches the cluster"
    gateway_keys = [k for k, s in svcs.items() if s["role"] == "gateway"]
    backends = sorted(k for k, s in svcs.items() if s["role"] == "backend")
    for key, svc in svcs.items():
        deployment = objects[("Deployment", f"virtufin-{key}")]
        assert "dapr.io/enabled" not in deployment["metadata"].get("annotations", {}), \
            "Dapr annotations go on the pod template, not the Deployment"
        template = pod_template(deployment)
        annotations = template["metadata"].get("annotations", {})
        if svc["dapr"]["enabled"]:
            expected = {
                "dapr.io/enabled": "true",
                "dapr.io/app-id": svc["dapr"]["appId"],
                "dapr.io/app-port": str(svc["ports"]["http"]),
                "dapr.io/app-protocol": "http",
                "dapr.io/config": "virtufin",
                "dapr.io/enable-app-health-check": "true",
                "dapr.io/app-health-check-path": svc["health"]["dapr"],
                "dapr.io/log-level": values["dapr"]["logLevel"],
                "dapr.io/app-health-probe-timeout": str(values["dapr"]["appHealth"]["probeTimeoutMilliseconds"]),
            }
            assert {k: annotations.get(k) for k in expected} == expected, key
            assert all(isinstance(v, str) for v in annotations.values())
        container = next(c for c in template["spec"]["containers"] if c["name"] == key)
        for probe, path in [("livenessProbe", svc["health"]["liveness"]), ("readinessProbe", svc["health"]["readiness"])]:
            assert container[probe]["httpGet"] == {"path": path, "port": "http", "scheme": "HTTP"}, (key, probe)
        assert {"name": values["registry"]["pullSecret"]} in template["spec"]["imagePullSecrets"]
        assert len(template["spec"]["imagePullSecrets"]) == len({s["name"] for s in template["spec"]["imagePullSecrets"]})
    services_cm = objects.get(("ConfigMap", "virtufin-services"))
    if not gateway_keys:
        assert services_cm is None
        return
    listed = json.loads(services_cm["data"]["services.json"])["services"]
    assert [s["name"] for s in listed] == backends
    for entry in listed:
        svc = svcs[entry["name"]]
        assert entry == {
            "name": entry["name"], "protocol": "grpc", "daprAppId": svc["dapr"]["appId"],
            "grpc": {"host": f"virtufin-{entry['name']}.virtufin.svc.cluster.local", "port": svc["ports"]["grpc"]},
            "pubsub": {"pubsubName": "pubsub"}, "state": {"storeName": "statestore"}, "jobs": {"crons": []},
        }
    gateway = pod_template(objects[("Deployment", "virtufin-api")])
    assert gateway["metadata"]["annotations"]["checksum/services-json"] == sha256(services_cm["data"]["services.json"])
    mount = next(m for m in gateway["spec"]["containers"][0]["volumeMounts"] if m["name"] == "vf-services-json")
    assert mount == {"name": "vf-services-json", "mountPath": "/app/config/services.json",
                     "subPath": "services.json", "readOnly": True}


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s or "combined")
@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_release_validates_and_has_what_the_values_call_for(values, strategy):
    _, objects = render([values], post_render=True, strategy=strategy)
    for key, obj in objects.items():
        assert problems(obj) == [], key
    expect_release(merged_values(values), objects)


def test_canary_through_vf_post_changes_only_that_deployment():
    _, base = render(post_render=True)
    _, canary = render([CHART / "ci" / "canary-values.yaml"], post_render=True)
    assert {k for k in base if base[k] != canary[k]} == {("Deployment", "virtufin-workmanager")}


def test_added_backend_reaches_services_json_and_rolls_the_gateway():
    _, base = render(post_render=True)
    _, added = render([CHART / "ci" / "added-backend-values.yaml"], post_render=True)
    listed = json.loads(added[("ConfigMap", "virtufin-services")]["data"]["services.json"])["services"]
    assert "reports" in [s["name"] for s in listed]
    checksum = lambda objs: pod_template(objs[("Deployment", "virtufin-api")])["metadata"]["annotations"]["checksum/services-json"]
    assert checksum(base) != checksum(added)


def vf_post(stdin, *args):
    return subprocess.run([str(VF_POST), *args], input=stdin, capture_output=True, check=False)


def helm3_form(values=()):
    """What Helm 3 hands a post-renderer: Helm's own manifest, with `# Source:` lines."""
    out = helm("install", CHART, values=[str(v) for v in values])
    assert out["ok"]
    return out["manifest"].encode()


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_helm3_form_keeps_every_source_line(values):
    stream = helm3_form([values])
    out = vf_post(stream)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    sources_in = [l for l in stream.decode().splitlines() if l.startswith("# Source: ")]
    sources_out = [l for l in text.splitlines() if l.startswith("# Source: ")]
    expected = [s for s in sources_in if not s.endswith("vf-post-contract.yaml")]
    if "virtufin/templates/vf-services.yaml" in text:
        expected.append("# Source: virtufin/templates/vf-services.yaml")
    assert sorted(sources_out) == sorted(expected)
    for chunk in text.split("\n---\n")[1:]:
        assert chunk.startswith("# Source: "), chunk[:200]
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs(text)}
    expect_release(merged_values(values), objects)


def test_output_is_deterministic_and_a_second_run_changes_nothing():
    stream = helm3_form()
    first, second = vf_post(stream), vf_post(stream)
    assert first.returncode == 0 and first.stdout == second.stdout
    again = vf_post(first.stdout)
    assert again.returncode == 0 and again.stdout == first.stdout


def test_extra_dapr_annotations_reach_the_pod_templates_from_values_alone(tmp_path):
    """Issue 19: a Dapr setting vf-post has no field for takes the chart's values only
    (`dapr.annotations` for every app, `<service>.dapr.annotations` for one), through the
    contract to the pod templates; the service's win over every app's, and both over vf-post's
    own settings. Values daprd would misread are findings; identity keys are refused."""
    over = tmp_path / "over.yaml"
    over.write_text("dapr:\n  annotations: {dapr.io/log-as-json: 'true', dapr.io/app-max-concurrency: '10',"
                    " dapr.io/log-level: warn}\n"
                    "workmanager:\n  dapr:\n    annotations: {dapr.io/app-max-concurrency: '5', dapr.io/graceful-shutdown-seconds: '20'}\n")
    _, objects = render([over], post_render=True)
    api = pod_template(objects[("Deployment", "virtufin-api")])["metadata"]["annotations"]
    work = pod_template(objects[("Deployment", "virtufin-workmanager")])["metadata"]["annotations"]
    assert api["dapr.io/log-as-json"] == "true" and api["dapr.io/app-max-concurrency"] == "10"
    assert api["dapr.io/log-level"] == "warn", "an extra annotation wins over the dapr.logLevel setting"
    assert work["dapr.io/app-max-concurrency"] == "5" and work["dapr.io/graceful-shutdown-seconds"] == "20"
    assert "dapr.io/graceful-shutdown-seconds" not in api
    for key in objects:
        if key != CONTRACT:
            assert problems(objects[key]) == [], key
    # A value daprd would read as something else is a finding naming the annotation.
    over.write_text("workmanager:\n  dapr:\n    annotations: {dapr.io/graceful-shutdown-seconds: soon}\n")
    report = tmp_path / "report.json"
    out = helm("install", CHART, values=[str(over)], post_renderer="vf-post",
               args=["--format", "json", "--report", str(report)])
    assert not out["ok"]
    found = [f for f in json.loads(report.read_text())["findings"] if f["rule"] == "dapr-annotation-values"]
    assert [(f["object"]["name"], f["message"]) for f in found] == [
        ("virtufin-workmanager", 'dapr.io/graceful-shutdown-seconds is "soon", not an integer; the injector ignores it')]
    # The schema refuses identity keys, keys outside dapr.io/ and values that are not text.
    for bad in ("dapr:\n  annotations: {dapr.io/app-id: other}\n",
                "api:\n  dapr:\n    annotations: {dapr.io/enabled: 'false'}\n",
                "dapr:\n  annotations: {example.com/x: y}\n",
                "dapr:\n  annotations: {dapr.io/app-max-concurrency: 5}\n"):
        over.write_text(bad)
        out = helm("install", CHART, values=[str(over)])
        assert not out["ok"] and "values don't meet the specifications of the schema" in out["error"], (bad, out)


def test_a_contract_whose_extra_annotations_set_an_identity_is_refused():
    """Without the chart's schema (a hand-written contract), vf-post refuses it itself."""
    stream = helm3_form()
    for inject, message in (('    config: "virtufin"', 'dapr.annotations: dapr.io/app-id comes from each app'),
                            ('    config: "virtufin"', 'is not a dapr.io/ annotation')):
        key = "dapr.io/app-id" if "app-id" in message else "example.com/x"
        bad = stream.replace(inject.encode(), f'    annotations: {{"{key}": "x"}}\n{inject}'.encode(), 1)
        assert bad != stream
        out = vf_post(bad)
        assert out.returncode == 2 and not out.stdout, out.stderr
        assert message in out.stderr.decode() and "vf-post-contract.yaml" in out.stderr.decode(), out.stderr
