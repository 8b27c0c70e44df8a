"""`--engine wasm` through the real Helm 4 engine: the same release as the native engine."""

import json
import subprocess

import pytest

from chart_support import CI, render
from conftest import SHARED, VF_POST


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_wasm_engine_renders_the_chart_exactly_as_native(values):
    native, _ = render([values], post_render=True)
    wasm, _ = render([values], post_render=True, args=["--engine", "wasm"])
    assert wasm == native


CORPUS = sorted((SHARED / "corpus").glob("*.yaml"))
# Every field of the report crosses the engine component's typed interface: findings with
# containers and pointers, waivers by annotation and by exception, what was applied, and each
# step's patch of each object.
CONFIG = {
    "transforms": {"commonAnnotations": {"example.com/touched": "yes"}},
    "rules": {"network-default-deny": {"enabled": True}},
    "exceptions": [{"rule": "container-limits", "kind": "Deployment", "reason": "upstream",
                    "owner": "platform", "expires": "2099-12-31"}],
}


# A Deployment waived by its own annotation, added to each chart.
EXEMPTED = """---
# Source: extra/templates/exempted.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: exempted
  annotations:
    exempt.vf-post.virtufin.io/container-requests: upstream
spec:
  selector: {matchLabels: {app: exempted}}
  template:
    metadata: {labels: {app: exempted}}
    spec:
      containers: [{name: app, image: "registry.example.com/app:1.0"}]
"""


@pytest.mark.parametrize("manifest", CORPUS, ids=lambda p: p.stem)
def test_wasm_engine_reports_exactly_as_native(manifest, tmp_path):
    config = tmp_path / "vf-post.yaml"
    config.write_text(json.dumps(CONFIG))
    text = manifest.read_text() + EXEMPTED

    def report(engine):
        out = subprocess.run([str(VF_POST), "--engine", engine, "--config", str(config), "--audit",
                              "--show-changes", "--format", "json", "--report", str(tmp_path / f"{engine}.json")],
                             input=text, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout, (tmp_path / f"{engine}.json").read_text()

    native, wasm = report("native"), report("wasm")
    assert wasm[0] == native[0], "the post-rendered streams differ"
    assert wasm[1] == native[1], "the reports differ"
    # What crossed: both kinds of waiver, and the steps' patches.
    crossed = json.loads(native[1])
    waivers = [f["exempted"] for f in crossed["findings"] if "exempted" in f]
    assert any("annotation" in w for w in waivers) and any("exception" in w for w in waivers)
    assert crossed["changes"]
