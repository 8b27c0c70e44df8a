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
        # Autoscaled, the Deployment leaves replicas out and spreads at minReplicas (> 1 here).
        if d["spec"].get("replicas", 2) > 1:
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
    test_pod = {"app.kubernetes.io/name": "virtufin", "app.kubernetes.io/instance": "virtufin",
                "app.kubernetes.io/component": "test"}
    assert gateway == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}},
                                 {"podSelector": {"matchLabels": test_pod}}],
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


def test_monitors_follow_the_prometheus_operator_api_or_the_values(tmp_path):
    """ServiceMonitors for the apps and a PodMonitor for the daprd sidecars, rendered when the
    cluster serves monitoring.coreos.com/v1 or when values force them; valid against the
    Prometheus Operator v0.93.0 CRD schemas; each selects what it should scrape, and the
    network policies let the monitoring namespace reach it."""
    over = tmp_path / "over.yaml"
    monitors = lambda objects: sorted(k for k in objects if k[0] in ("ServiceMonitor", "PodMonitor"))
    api = ["monitoring.coreos.com/v1"]
    base = CHART / "ci" / "all-services-values.yaml"
    assert monitors(render([base])[1]) == [], "auto, and the cluster has no Prometheus Operator"
    over.write_text("monitoring: {enabled: false}\n")
    assert monitors(render([base, over], api_versions=api)[1]) == []
    over.write_text("monitoring: {labels: {release: kube-prometheus-stack}}\nnetworkPolicy: {enabled: true}\n"
                    "websocketmanager:\n  metrics: {enabled: false}\n")
    _, objects = render([base, over], api_versions=api)
    assert monitors(objects) == [("PodMonitor", "virtufin-daprd"), ("ServiceMonitor", "virtufin-api"),
                                 ("ServiceMonitor", "virtufin-workmanager")]
    for key in monitors(objects):
        assert problems(objects[key]) == [], key
        assert objects[key]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    for name in ("virtufin-api", "virtufin-workmanager"):
        monitor = objects[("ServiceMonitor", name)]["spec"]
        service = objects[("Service", name)]
        assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert monitor["namespaceSelector"] == {"matchNames": ["virtufin"]}
        assert monitor["endpoints"][0]["port"] in [p["name"] for p in service["spec"]["ports"]]
        assert monitor["endpoints"][0]["path"] == "/metrics"
        # The policy of the service lets the monitoring namespace reach the scraped port.
        http = service["spec"]["ports"][0]["port"]
        rules = objects[("NetworkPolicy", name)]["spec"]["ingress"]
        assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                "ports": [{"protocol": "TCP", "port": http}]} in rules
    ws_rules = objects[("NetworkPolicy", "virtufin-websocketmanager")]["spec"]["ingress"]
    assert not [r for r in ws_rules if r["ports"][0]["port"] == 5001], "not scraped, not opened"
    pods = objects[("PodMonitor", "virtufin-daprd")]["spec"]
    assert pods["podMetricsEndpoints"][0]["port"] == "dapr-metrics"
    assert pods["selector"]["matchLabels"]["dapr.io/sidecar-injected"] == "true"
    deployment_labels = objects[("Deployment", "virtufin-api")]["spec"]["template"]["metadata"]["labels"]
    assert {k: v for k, v in pods["selector"]["matchLabels"].items() if not k.startswith("dapr.io/")}.items() \
        <= deployment_labels.items()
    # Forced on without the API (helm template), and the schema guards the values.
    over.write_text("monitoring: {enabled: true, daprSidecars: false}\n")
    assert monitors(render([base, over])[1]) == [("ServiceMonitor", n) for n in
                                                 ("virtufin-api", "virtufin-websocketmanager", "virtufin-workmanager")]
    for bad in ("monitoring: {enabled: yes-please}\n", "monitoring: {interval: 30 seconds}\n",
                "defaults:\n  metrics: {path: metrics}\n", "monitoring: {scrape: true}\n",
                "monitoring: {interval: 1m30s}\n", "monitoring: {labels: {bad key!: x}}\n",
                "monitoring: {labels: {team: \"a\\nb\"}}\n", "monitoring: {labels: {team: " + "x" * 64 + "}}\n",
                "monitoring: {labels: {app.kubernetes.io/name: other}}\n"):
        over.write_text(bad)
        out = helm("install", CHART, values=[str(over)])
        assert not out["ok"] and "values don't meet the specifications of the schema" in out["error"], (bad, out)
    # A scrape may not outlast its interval (the Prometheus Operator refuses the monitor).
    over.write_text("monitoring: {enabled: true, interval: 5s, scrapeTimeout: 10s}\n")
    out = helm("install", CHART, values=[str(over)])
    assert not out["ok"] and "monitoring.scrapeTimeout (10s) is longer than monitoring.interval (5s)" in out["error"], out
    over.write_text("monitoring: {enabled: true, interval: 1m, scrapeTimeout: 59s}\n")
    assert len(monitors(render([base, over])[1])) == 4
    # `auto` renders each kind the cluster serves; no PodMonitor without sidecar metrics.
    only_services = ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"]
    assert [k for k, _ in monitors(render([base], api_versions=only_services)[1])] == ["ServiceMonitor"] * 3
    over.write_text("dapr: {metrics: {enabled: false}}\n")
    assert [k for k, _ in monitors(render([base, over], api_versions=api)[1])] == ["ServiceMonitor"] * 3


def test_a_release_name_that_would_give_two_services_one_name_is_refused():
    """Object names are cut at 63 characters: with a 53-character release name every service
    would be `<release>-<first letters>`, the same for all."""
    out = helm("install", CHART, release="r" * 53)
    assert not out["ok"] and "would both be named" in out["error"], out
    assert helm("install", CHART, release="r" * 40)["ok"]


def test_the_monitor_schemas_are_real_and_pinned(tmp_path, monkeypatch):
    """A monitor the Prometheus Operator would refuse is refused here, and a vendored CRD that
    is not the pinned file is refused before it judges anything."""
    import validate
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"},
           "spec": {"selector": {}, "endpoints": [{"port": "http", "interval": "30 seconds"}]}}
    assert problems(bad)
    bad["spec"]["endpoints"][0] = {"port": "http", "scrape": True}
    assert problems(bad), "unknown fields are refused, as kubectl --validate=strict does"
    bad["spec"]["endpoints"][0] = {"port": "http"}
    assert problems(bad) == []
    bad["metadata"]["labels"] = {"team": "a\nb"}
    assert problems(bad) == ["metadata/labels/team: invalid value 'a\\nb'"]
    copy = tmp_path / "crds"
    copy.mkdir()
    for name in validate.PROMETHEUS_CRDS:
        text = (validate.PROMETHEUS_DIR / name).read_text()
        (copy / name).write_text(text.replace("type: string", "type: object", 1))
    monkeypatch.setattr(validate, "PROMETHEUS_DIR", copy)
    with pytest.raises(AssertionError, match="not the vendored v0.93.0 CRD"):
        validate.crd_schemas.__wrapped__()
