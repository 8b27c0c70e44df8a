"""Shared fixtures: the repository, the built vf-post, and the real Helm engine."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VF_SHARED", REPO.parent / "shared"))
VF_POST = REPO / "target" / "x86_64-unknown-linux-gnu" / "release" / "vf-post"  # .cargo/config.toml
PLUGINS = REPO / "target" / "helm-plugins"


def helm(command, chart, *, env=None, **kw):
    """Runs tests/helm_run.py in its own process (Helm reads its environment at start-up)."""
    argv = [sys.executable, str(REPO / "tests" / "helm_run.py"), command, str(chart)]
    for key, value in kw.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "values":
            for path in value:
                argv += ["-f", str(path)]
        elif key in ("args", "set_json", "api_versions"):
            argv += [flag, json.dumps(value)]
        else:
            argv += [flag, str(value)]
    full_env = dict(os.environ)
    full_env.update({"HELM_PLUGINS": str(PLUGINS), "HELM_CACHE_HOME": str(REPO / "target" / "helm-cache")})
    full_env.update(env or {})
    out = subprocess.run(argv, capture_output=True, text=True, env=full_env, check=True)
    return json.loads(out.stdout)


def fake_helm_command(bin_dir):
    """A `helm` on PATH in `bin_dir`: tests/fake_helm.py, a helm command line over the real Helm
    engine (no helm binary exists here)."""
    fake = bin_dir / "helm"
    fake.write_text(f"#!{sys.executable}\nimport runpy, sys\nsys.path.insert(0, {str(REPO / 'tests')!r})\n"
                    f"runpy.run_path({str(REPO / 'tests' / 'fake_helm.py')!r}, run_name='__main__')\n")
    fake.chmod(0o755)
    return fake


@pytest.fixture(scope="session", autouse=True)
def built():
    """The suite runs against the release build that scripts/setup made."""
    assert VF_POST.exists(), "run scripts/test (or scripts/setup) first: the vf-post binary is missing"
    assert (PLUGINS / "vf-post" / "plugin.yaml").exists(), "run scripts/setup: Helm plugin dir missing"
