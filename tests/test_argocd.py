"""The Argo CD Config Management Plugin (issue 17): deploy/argocd/plugin.yaml's `discover` and
`generate` commands, run the way Argo CD's CMP server runs them (cmpserver/plugin/plugin.go:
the command and its args exec'd without a shell, in the Application's source directory, with
the sidecar's environment plus the Application's: ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE,
ARGOCD_ENV_<name> for its plugin env, ARGOCD_APP_PARAMETERS and PARAM_* for its parameters;
stdout is the manifests, a non-zero exit fails the Application with stderr in its condition).

SIMULATED, because neither can exist here: Argo CD (this test stands in for its CMP server)
and a helm binary (tests/fake_helm.py, a `helm` command line over the real Helm v4.2.3
engine; its `template` gives the release manifest without hooks, which vf-post-generate then
hands to vf-post as it would hand helm's). vf-post, the chart and the plugin files are the
real ones."""

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from chart_support import CHART
from conftest import REPO, VF_POST, fake_helm_command, helm

PLUGIN = yaml.safe_load((REPO / "deploy" / "argocd" / "plugin.yaml").read_text())


@pytest.fixture()
def sidecar(tmp_path):
    """The sidecar's PATH: helm, vf-post and the plugin's generate command, and a copy of the
    chart as Argo CD checks a repository out."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_helm_command(bin_dir)
    (bin_dir / "vf-post").symlink_to(VF_POST)
    (bin_dir / "vf-post-generate").symlink_to(REPO / "deploy" / "argocd" / "vf-post-generate")
    source = tmp_path / "repo" / "chart"
    shutil.copytree(CHART, source)
    state = tmp_path / "state"
    state.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "FAKE_HELM_STATE": str(state),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "xdg-state")}
    return source, env


def run(command, source, env, app=None):
    """One CMP command as the CMP server runs it: exec'd, cwd the source directory."""
    full = dict(env)
    full.update(app or {})
    argv = command["command"] + command.get("args", [])
    return subprocess.run(argv, cwd=source, env=full, capture_output=True, text=True, check=False)


def application(name="virtufin", namespace="virtufin", env=(), parameters=()):
    """What Argo CD adds to the environment for an Application's plugin source."""
    out = {"ARGOCD_APP_NAME": name, "ARGOCD_APP_NAMESPACE": namespace,
           "ARGOCD_APP_PARAMETERS": json.dumps(list(parameters))}
    for key, value in env:
        out[f"ARGOCD_ENV_{key}"] = value
    # Argo CD's ApplicationSourcePluginParameters.Environ: names upper-cased, [^A-Z0-9_] as _.
    escaped = lambda name: re.sub(r"[^A-Z0-9_]", "_", name.upper())
    for p in parameters:
        stem = "PARAM_" + escaped(p["name"])
        for i, item in enumerate(p.get("array", [])):
            out[f"{stem}_{i}"] = item
        for key, value in p.get("map", {}).items():
            out[f"{stem}_{escaped(key)}"] = value
    return out


def objects(text):
    """The objects, in a fixed order: Helm sorts what it installs by kind, Argo CD by sync wave
    and kind; neither keeps the order of the stream."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    return sorted(docs, key=lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]))


def test_discovery_finds_charts_meant_for_vf_post_only(sidecar, tmp_path):
    source, env = sidecar
    found = run(PLUGIN["spec"]["discover"]["find"], source, env)
    assert found.returncode == 0 and found.stdout.strip() == "vf-post", found.stderr
    other = tmp_path / "repo" / "plain"
    shutil.copytree(REPO / "tests" / "charts" / "plain", other)
    assert run(PLUGIN["spec"]["discover"]["find"], other, env).stdout == ""
    assert run(PLUGIN["spec"]["discover"]["find"], tmp_path, env).stdout == ""


def test_generate_writes_what_helm_install_with_vf_post_writes(sidecar):
    source, env = sidecar
    ci = source / "ci"
    out = run(PLUGIN["spec"]["generate"], source, env, application(
        env=[("HELM_VALUES", "ci/all-services-values.yaml")],
        parameters=[{"name": "helm-parameters", "map": {"registry.pullSecret": "robot,harbor"}}]))
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", "quiet unless denied"
    expected = helm("install", CHART, release="virtufin", namespace="virtufin", post_renderer="vf-post", args=[],
                    values=[str(ci / "all-services-values.yaml")],
                    set_json={"registry": {"pullSecret": "robot,harbor"}})
    assert expected["ok"], expected
    assert objects(out.stdout) == objects(expected["manifest"])
    secrets = {tuple(s["name"] for s in d["spec"]["template"]["spec"].get("imagePullSecrets", []))
               for d in objects(out.stdout) if d["kind"] == "Deployment"}
    assert secrets == {("robot,harbor",)}, "a comma in a --set value stays in the value"


def test_an_application_outside_argo_cds_namespace_is_its_name(sidecar):
    """Argo CD names such an Application `<namespace>_<name>`; the release is the name."""
    source, env = sidecar
    out = run(PLUGIN["spec"]["generate"], source, env, application(name="team-a_virtufin"))
    assert out.returncode == 0, out.stderr
    assert all(d["metadata"]["labels"].get("app.kubernetes.io/instance") == "virtufin"
               for d in objects(out.stdout) if d["kind"] == "Deployment")


def test_a_denied_release_fails_the_application_with_the_report_on_stderr(sidecar):
    source, env = sidecar
    out = run(PLUGIN["spec"]["generate"], source, env, application(
        parameters=[{"name": "helm-parameters", "map": {"api.image.tag": "latest"}}]))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout == "", "nothing for Argo CD to apply"
    assert "image-tag-pinned" in out.stderr and "vf-post: denied" in out.stderr


@pytest.mark.parametrize("app, message", [
    (application(env=[("HELM_VALUES", "../../etc/passwd")]), "is outside the source directory"),
    (application(env=[("HELM_VALUES", "/etc/passwd")]), "is outside the source directory"),
    (application(parameters=[{"name": "values-files", "array": ["ci/../../x.yaml"]}]), "is outside the source directory"),
    (application(env=[("HELM_VALUES", "missing.yaml")]), "does not exist"),
    (application(parameters=[{"name": "helm-parameters", "map": {"a,b=c": "x"}}]), "is not a Helm value path"),
    ({"ARGOCD_APP_NAMESPACE": "virtufin"}, "ARGOCD_APP_NAME"),
    # Found by attacking it: Helm fetches a values file named by URL; the chart can hold a file
    # of that name (`http:/host/path`), so existing is not enough.
    (application(env=[("HELM_VALUES", "http://169.254.169.254/latest/meta-data")]), "is a URL"),
    (application(parameters=[{"name": "values-files", "array": ["oci://evil.example/x"]}]), "is a URL"),
    (application(env=[("HELM_VALUES", "-")]), "is outside the source directory"),
    (application(env=[("HELM_VALUES", "link.yaml")]), "is outside the source directory"),
    (application(env=[("HELM_VALUES", "ci/all-services-values.yaml\nvalues.yaml")]), "line break"),
    ({**application(), "ARGOCD_APP_PARAMETERS": "not json"}, "ARGOCD_APP_PARAMETERS"),
    ({**application(), "ARGOCD_APP_PARAMETERS": '[{"name": "values-file", "array": ["a.yaml"]}]'}, "ARGOCD_APP_PARAMETERS"),
    ({**application(), "ARGOCD_APP_PARAMETERS": '[{"name": "helm-parameters", "map": {"a": "1\\u0000image.tag\\u0000latest"}}]'},
     "ARGOCD_APP_PARAMETERS"),
    (application(name="--post-renderer=x"), "is not a Helm release name"),
])
def test_what_an_application_passes_cannot_reach_outside_its_chart(sidecar, app, message):
    source, env = sidecar
    (source / "http:" / "169.254.169.254" / "latest").mkdir(parents=True)
    (source / "http:" / "169.254.169.254" / "latest" / "meta-data").write_text("a: 1\n")
    (source / "-").write_text("a: 1\n")
    (source / "link.yaml").symlink_to("/etc/hostname")
    out = run(PLUGIN["spec"]["generate"], source, env, app)
    assert out.returncode != 0
    assert out.stdout == ""
    assert message in out.stderr, out.stderr


def test_the_sidecar_follows_argo_cds_cmp_v2_layout():
    patch = yaml.safe_load((REPO / "deploy" / "argocd" / "repo-server-patch.yaml").read_text())
    container = patch["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert container["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/argocd/cmp-server/config/plugin.yaml"]["subPath"] == "plugin.yaml"
    assert {"/var/run/argocd", "/home/argocd/cmp-server/plugins"} <= set(mounts)
    assert PLUGIN["apiVersion"] == "argoproj.io/v1alpha1" and PLUGIN["kind"] == "ConfigManagementPlugin"
    assert os.access(REPO / "deploy" / "argocd" / "vf-post-generate", os.X_OK)
