"""Policy modules in any language (issue 16): the require-labels module written in Python
(componentize-py) and in JavaScript (componentize-js), built by scripts/build-wasm, load under
the sandbox rules (no imports) and give exactly the Rust module's findings on every corpus
chart, with the same settings."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import REPO, SHARED, VF_POST

CORPUS = sorted((SHARED / "corpus").glob("*.yaml"))
MODULES = REPO / "target" / "policies"
SETTINGS = {"labels": ["app.kubernetes.io/name", "team"], "annotations": ["cost-center"]}


def config(tmp_path, module, settings=SETTINGS, compiler="auto"):
    path = MODULES / f"{module}.wasm"
    assert path.exists(), f"{path} is missing: run scripts/build-wasm"
    text = json.dumps({"sandbox": {"compiler": compiler},
                       "modules": [{"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                    "settings": settings}]})
    file = tmp_path / f"{module}-{compiler}.yaml"
    file.write_text(text)
    return file


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One compilation cache for the file: a module compiles once (seconds for these)."""
    return tmp_path_factory.mktemp("cache")


def module_findings(tmp_path, cache, module, target, compiler="auto"):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    out = subprocess.run([str(VF_POST), "lint", "--config", str(config(tmp_path, module, compiler=compiler)), "--format", "json",
                          str(target)], capture_output=True, text=True, check=False, env=env)
    assert out.returncode in (0, 1), out.stderr
    return [(f["rule"], f["object"]["kind"], f["object"]["name"], f["message"], f.get("path"))
            for f in json.loads(out.stdout)["findings"] if f["origin"] == module]


@pytest.mark.parametrize("compiler", ["winch", "cranelift"])
@pytest.mark.parametrize("language", ["py", "js"])
def test_the_module_in_another_language_finds_what_the_rust_module_finds(tmp_path, cache, language, compiler):
    """Under either compiler (issue 20: `auto` compiles modules this large with Winch)."""
    compared = 0
    for target in CORPUS:
        rust = module_findings(tmp_path, cache, "require-labels", target)
        other = module_findings(tmp_path, cache, f"require-labels-{language}", target, compiler)
        assert other == rust, target.name
        compared += len(rust)
    assert compared > 100, "the corpus lacks the labels: there is something to compare"


@pytest.mark.parametrize("language", ["py", "js"])
def test_settings_are_checked_by_the_module_itself(tmp_path, cache, language):
    path = config(tmp_path, f"require-labels-{language}", settings={"labels": []})
    out = subprocess.run([str(VF_POST), "lint", "--config", str(path), str(CORPUS[0])],
                         capture_output=True, text=True, check=False,
                         env=dict(os.environ, XDG_CACHE_HOME=str(cache)))
    assert out.returncode == 2
    assert "give at least one label or annotation to require" in out.stderr
    assert len(out.stderr.splitlines()) == 1
