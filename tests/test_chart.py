"""The Virtufin chart (issue 3), rendered by the real Helm v4.2.3 engine, checked with real
validators. Properties are checked as render diffs."""

import json
import subprocess

import pytest
import kubernetes_validate
import yaml

from chart_support import CHART, CI, CONTRACT, render
from conftest import VF_POST, helm
from validate import problems


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_helm_lint_is_clean(values):
    out = helm("lint", CHART, values=[str(values)])
    assert out["ok"], out
    assert out["errors"] == [] and out["messages"] == [], out


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_every_object_validates_and_the_contract_is_there(values):
    _, objects = render([values])
    assert CONTRACT in objects
    for key, obj in objects.items():
        if key != CONTRACT:
            assert problems(obj) == [], key


def test_validators_reject_what_the_cluster_would_reject():
    """The checks above can fail: each of these is refused."""
    bad = [
        {"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration", "metadata": {"name": "c"},
         "spec": {"mtls": {"enabled": True}}},  # controlPlaneTrustDomain, sentryAddress missing
        {"apiVersion": "dapr.io/v1alpha1", "kind": "Configuration", "metadata": {"name": "c"},
         "spec": {"tracing": {"samplingRate": 1}}},  # a number, not a string
        {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": "c"},
         "spec": {"type": "state.redis", "version": "v1", "metadata": [], "scopes": ["a"]}},
        {"apiVersion": "dapr.io/v1alpha1", "kind": "Resiliency", "metadata": {"name": "r"},
         "spec": {"policies": {"retries": {"r": {"policy": "constant", "maxRetries": "3"}}}}},
        {"apiVersion": "dapr.io/v2alpha1", "kind": "Subscription", "metadata": {"name": "s"},
         "spec": {"pubsubname": "p", "topic": "t", "route": "/x"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"replica": 2, "selector": {}, "template": {}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}},
    ]
    for obj in bad:
        assert problems(obj), obj


def test_schema_rejects_typos_and_wrong_types_with_a_clear_message():
    for values, message in [
        ({"api": {"replica": 3}}, "at '/api': additional properties 'replica' not allowed"),
        ({"workmanager": {"ports": {"http": "x"}}}, "at '/workmanager/ports/http': got string, want integer"),
        ({"api": {"dapr": {"appId": "Bad_Id"}}}, "at '/api/dapr/appId'"),
        ({"dapr": {"tracing": {"samplingRate": 1}}}, "at '/dapr/tracing/samplingRate': got number, want string"),
    ]:
        out = helm("install", CHART, set_json=values)
        assert not out["ok"] and message in out["error"], (values, out)


def test_one_service_renders_only_that_service_and_what_it_needs():
    _, objects = render([CHART / "ci" / "one-service-values.yaml"])
    components = {o["metadata"].get("labels", {}).get("app.kubernetes.io/component") for o in objects.values()}
    assert components == {"workmanager", "dapr", "vf-post"}, components
    assert ("Deployment", "virtufin-workmanager") in objects
    assert ("Subscription", "work-events") in objects
    assert ("Subscription", "session-events") not in objects  # its service is disabled
    # Scopes name every declared service, so enabling one later leaves these objects as they are.
    for kind, name in [("Component", "pubsub"), ("Component", "statestore"), ("Resiliency", "virtufin-pubsub")]:
        assert objects[(kind, name)]["scopes"] == ["virtufin-api", "websocketmanager", "workmanager"]


def test_canary_tag_changes_that_deployment_and_nothing_else():
    base_text, base = render()
    canary_text, canary = render([CHART / "ci" / "canary-values.yaml"])
    assert base.keys() == canary.keys()
    changed = {key for key in base if base[key] != canary[key]}
    assert changed == {("Deployment", "virtufin-workmanager")}
    image = lambda objs: objs[("Deployment", "virtufin-workmanager")]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image(canary) == "harbor.virtufin.io/virtufin/workmanager:1.1.0-rc.1"
    before = yaml.safe_dump(base[("Deployment", "virtufin-workmanager")]).replace(image(base), image(canary))
    assert before == yaml.safe_dump(canary[("Deployment", "virtufin-workmanager")])


def test_added_backend_is_data_not_templates():
    _, base = render()
    _, added = render([CHART / "ci" / "added-backend-values.yaml"])
    new = set(added) - set(base)
    assert new == {("Deployment", "virtufin-reports"), ("Service", "virtufin-reports"),
                   ("ConfigMap", "virtufin-reports-env"), ("PodDisruptionBudget", "virtufin-reports")}
    assert set(base) - set(added) == set()
    changed = {key for key in base if base[key] != added[key]}
    # The backend joins the contract and the scopes of the Dapr objects; nothing else moves.
    assert changed == {CONTRACT, ("Component", "pubsub"), ("Component", "statestore"),
                       ("Resiliency", "virtufin-pubsub")}
    assert "reports" in added[("Component", "pubsub")]["scopes"]


def test_installed_without_vf_post_the_release_cannot_reach_the_cluster():
    """No cluster exists here, so this checks what the API server would be sent: an object of a
    kind no Kubernetes knows, which makes Helm fail before creating anything ("no matches for
    kind PostRenderContract"), instead of a platform without sidecars, probes or pull secrets."""
    _, objects = render()
    contract = objects[CONTRACT]
    assert contract["apiVersion"] == "vf-post.virtufin.io/v1alpha1"
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(contract, kubernetes_validate.latest_version(), strict=True)


# Issue 21: rollouts and spreading, as production plans ask for them.

@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_rollouts_keep_every_replica_and_replicated_services_spread(values):
    """By default a rollout takes no pod down before its replacement is ready, and a service
    with more than one replica spreads over nodes and zones, softly (a small cluster still
    schedules every pod)."""
    _, objects = render([values])
    deployments = [o for (kind, _), o in objects.items() if kind == "Deployment"]
    assert deployments
    for d in deployments:
        assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        pod = d["spec"]["template"]
        spread = pod["spec"].get("topologySpreadConstraints", [])
        if d["spec"]["replicas"] > 1:
            assert [c["topologyKey"] for c in spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
            for c in spread:
                assert c["whenUnsatisfiable"] == "ScheduleAnyway" and c["maxSkew"] == 1
                selected = c["labelSelector"]["matchLabels"]
                assert selected == d["spec"]["selector"]["matchLabels"], "the service's own pods"
                assert selected.items() <= pod["metadata"]["labels"].items()
        else:
            assert spread == []


def test_rollout_and_spreading_are_values_and_the_schema_guards_them(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("api:\n  replicas: 3\n  rollingUpdate: {maxUnavailable: 25%, maxSurge: 0}\n"
                    "  topologySpread: {whenUnsatisfiable: DoNotSchedule, topologyKeys: [kubernetes.io/hostname]}\n")
    _, objects = render([over])
    api = objects[("Deployment", "virtufin-api")]
    assert api["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": 0}
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in api["spec"]["template"]["spec"]["topologySpreadConstraints"]] \
        == [("kubernetes.io/hostname", "DoNotSchedule")]
    assert problems(api) == []
    for bad in ("api:\n  topologySpread: {whenUnsatisfiable: Maybe}\n", "api:\n  rollingUpdate: {maxSurge: lots}\n",
                "defaults:\n  topologySpread: {maxSkew: 0}\n"):
        over.write_text(bad)
        out = helm("install", CHART, values=[str(over)])
        assert not out["ok"] and "values don't meet the specifications of the schema" in out["error"], bad


def test_an_autoscaled_service_leaves_replicas_to_its_autoscaler(tmp_path):
    """With autoscaling on, the Deployment has no `replicas` (an upgrade would reset what the
    autoscaler chose), and the disruption budget and spreading follow `minReplicas`; vf-post's
    rule replicas-with-autoscaler holds the chart to it."""
    over = tmp_path / "over.yaml"
    over.write_text("api:\n  replicas: 1\n  autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 6, "
                    "targetMemoryUtilizationPercentage: 80, behavior: {scaleDown: {stabilizationWindowSeconds: 300}}}\n")
    manifest, objects = render([over])
    api = objects[("Deployment", "virtufin-api")]
    hpa = objects[("HorizontalPodAutoscaler", "virtufin-api")]
    assert "replicas" not in api["spec"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "virtufin-api"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert [(m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in hpa["spec"]["metrics"]] \
        == [("cpu", 70), ("memory", 80)]
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}
    assert ("PodDisruptionBudget", "virtufin-api") in objects
    assert len(api["spec"]["template"]["spec"]["topologySpreadConstraints"]) == 2
    assert problems(api) == [] and problems(hpa) == []
    assert ("HorizontalPodAutoscaler", "virtufin-workmanager") not in objects
    # The rule: the same release with replicas written back is an error.
    stream = tmp_path / "release.yaml"
    stream.write_text(manifest)
    clean = subprocess.run([str(VF_POST), "lint", "--format", "json", str(stream)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    docs = []
    for d in yaml.safe_load_all(manifest):
        if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "virtufin-api":
            d["spec"]["replicas"] = 2
        docs.append(d)
    stream.write_text(yaml.safe_dump_all([d for d in docs if d]))
    denied = subprocess.run([str(VF_POST), "lint", "--format", "json", str(stream)], capture_output=True, text=True)
    assert denied.returncode == 1
    assert [f["rule"] for f in json.loads(denied.stdout)["findings"]] == ["replicas-with-autoscaler"]
    for bad, message in (("api:\n  autoscaling: {enabled: true, minReplicas: 4, maxReplicas: 2}\n", "maxReplicas (2) is less than minReplicas (4)"),
                         ("api:\n  autoscaling: {enabled: true, targetCPUUtilizationPercentage: null}\n", "give a CPU or a memory target")):
        over.write_text(bad)
        out = helm("install", CHART, values=[str(over)])
        assert not out["ok"] and message in out["error"], out


def test_network_policies_deny_ingress_then_allow_only_what_the_platform_needs(tmp_path):
    over = tmp_path / "over.yaml"
    over.write_text("networkPolicy:\n  enabled: true\n  extraIngress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{protocol: TCP, port: 8080}]}]\n")
    _, objects = render([CHART / "ci" / "all-services-values.yaml", over])
    policies = {name: o for (kind, name), o in objects.items() if kind == "NetworkPolicy"}
    for policy in policies.values():
        assert problems(policy) == [], policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule without `from` admits every source"
    deny = policies["virtufin-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    pods = [o["spec"]["template"]["metadata"]["labels"] for (kind, _), o in objects.items() if kind == "Deployment"]
    assert pods and all(deny["podSelector"]["matchLabels"].items() <= labels.items() for labels in pods), \
        "the default deny selects every pod of the release"
    gateway = policies["virtufin-api"]["spec"]["ingress"]
    assert gateway == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}],
                        "ports": [{"protocol": "TCP", "port": 5001}]}]
    backend = policies["virtufin-workmanager"]["spec"]["ingress"]
    assert backend[0]["from"] == [{"podSelector": {"matchLabels": objects[("Deployment", "virtufin-api")]["spec"]["selector"]["matchLabels"]}}]
    assert backend[0]["ports"] == [{"protocol": "TCP", "port": objects[("Deployment", "virtufin-workmanager")]["spec"]["template"]["spec"]["containers"][0]["ports"][1]["containerPort"]}]
    dapr = policies["virtufin-dapr"]["spec"]["ingress"]
    assert [p["port"] for p in dapr[0]["ports"]] == [3500, 50001, 50002]
    assert dapr[1]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert dapr[2] == {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    # Off by default; an empty gatewayFrom (every source) is refused.
    _, plain = render()
    assert not [k for k in plain if k[0] == "NetworkPolicy"]
    over.write_text("networkPolicy: {enabled: true, gatewayFrom: []}\n")
    out = helm("install", CHART, values=[str(over)])
    assert not out["ok"] and "gatewayFrom" in out["error"], out
