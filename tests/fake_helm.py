"""A `helm` command line over the real Helm v4.2.3 engine, for testing scripts/deploy and
scripts/undeploy.

MOCK, and only of what cannot exist on this machine: there is no helm binary here (the engine
comes as a Python wheel, reference/toolchain.md) and no cluster. So:
- `template` and `get manifest` render with the real engine through the installed vf-post
  plugin (tests/helm_run.py); Helm 3's engine is not available, so FAKE_HELM_VERSION v3.x
  changes the version string and the plugin check, not the engine.
- the release (what a cluster would store) is a directory, FAKE_HELM_STATE: `values.yaml`
  (the user-supplied values `helm get values` returns) and optionally `manifest.yaml` (what
  `helm get manifest` returns; rendered from values.yaml when absent).
- `upgrade` renders like `template`, stores the merged values, and logs its argv and the
  values files it was given to FAKE_HELM_STATE/calls.jsonl, so a test checks the exact
  command line.
Unknown commands and flags fail loudly instead of being ignored.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
STATE = Path(os.environ["FAKE_HELM_STATE"])
VERSION = os.environ.get("FAKE_HELM_VERSION", "v4.2.3")


def fail(message, code=1):
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(code)


def parse(argv, *, value_flags, switches=()):
    """Splits argv into positionals and (flag, value) pairs, as cobra would."""
    positional, flags = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if name.startswith("-f") and name != "-f" and not name.startswith("--"):
                name, value, eq = "-f", name[2:], "="
            if name in switches:
                flags.append((name, None))
            elif name in value_flags:
                if not eq:
                    i += 1
                    value = argv[i]
                flags.append((name, value))
            else:
                fail(f"fake helm: unknown flag {name}", 2)
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def render(chart, release, namespace, value_files, post_renderer_args=None, post_renderer=None, sets=()):
    argv = [sys.executable, str(TESTS / "helm_run.py"), "install", str(chart),
            "--release", release, "--namespace", namespace]
    for path in value_files:
        argv += ["-f", path]
    if sets:
        # `--set`, parsed by Helm's own parser (the engine's), merged over the values files.
        import helm_python
        over = {}
        for expression in sets:
            over = merge(over, helm_python.parse_set_string(expression))
        argv += ["--set-json", json.dumps(over)]
    if post_renderer:
        argv += ["--post-renderer", post_renderer, "--args", json.dumps(post_renderer_args or [])]
    env = dict(os.environ, HELM_PLUGINS=str(REPO / "target" / "helm-plugins"),
               HELM_CACHE_HOME=str(REPO / "target" / "helm-cache"))
    out = json.loads(subprocess.run(argv, capture_output=True, text=True, env=env,
                                    check=True).stdout)
    if not out["ok"]:
        fail(out["error"])
    return out["manifest"]


INSTALL_FLAGS = {"-n", "--namespace", "-f", "--values", "--post-renderer", "--post-renderer-args",
                 "--timeout", "--version", "--set"}
UPGRADE_SWITCHES = {"--install", "--create-namespace", "--wait", "--atomic", "--dry-run"}


def template_like(argv, switches=()):
    positional, flags = parse(argv, value_flags=INSTALL_FLAGS, switches=switches)
    if len(positional) != 2:
        fail(f"fake helm: want NAME CHART, got {positional}", 2)
    get = lambda *names: [v for k, v in flags if k in names]
    namespace = (get("-n", "--namespace") or ["default"])[-1]
    renderer = (get("--post-renderer") or [None])[-1]
    if renderer and VERSION.startswith("v3.") and not shutil.which(renderer):
        fail(f'invalid argument "{renderer}" for "--post-renderer" flag: unable to find binary')
    manifest = render(positional[1], positional[0], namespace, get("-f", "--values"),
                      get("--post-renderer-args"), renderer, get("--set"))
    return positional, flags, get("-f", "--values"), manifest


def merged_values(files):
    values = {}
    for path in files:
        values = merge(values, yaml.safe_load(Path(path).read_text()) or {})
    return values


def merge(base, over):
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def main(argv):
    if argv[:1] == ["version"]:
        print(VERSION)
    elif argv[:2] == ["plugin", "list"]:
        print("NAME   \tVERSION\tTYPE            \tAPIVERSION\tPROVENANCE\tSOURCE")
        if os.environ.get("FAKE_HELM_PLUGIN", "1") == "1":
            print("vf-post\t0.1.0  \tpostrenderer/v1\tv1        \tunknown   \tunknown")
    elif argv[:2] == ["show", "values"]:
        print((Path(argv[2]) / "values.yaml").read_text(), end="")
    elif argv[:2] in (["get", "values"], ["get", "manifest"]):
        if not (STATE / "values.yaml").exists():
            fail("release: not found")
        positional, flags = parse(argv[2:], value_flags={"-n", "--namespace", "-o", "--output"})
        namespace = ([v for k, v in flags if k in ("-n", "--namespace")] or ["default"])[-1]
        if argv[1] == "values":
            print((STATE / "values.yaml").read_text(), end="")
        elif (STATE / "manifest.yaml").exists():
            print((STATE / "manifest.yaml").read_text(), end="")
        else:
            chart = (STATE / "chart").read_text()
            print(render(chart, positional[0], namespace, [str(STATE / "values.yaml")], [], "vf-post"),
                  end="")
    elif argv[:1] == ["template"]:
        print(template_like(argv[1:])[3], end="")
    elif argv[:1] == ["upgrade"]:
        positional, flags, files, manifest = template_like(argv[1:], UPGRADE_SWITCHES)
        with open(STATE / "calls.jsonl", "a") as log:
            log.write(json.dumps({"argv": argv, "files": [Path(f).read_text() for f in files]}) + "\n")
        (STATE / "values.yaml").write_text(yaml.safe_dump(merged_values(files)))
        (STATE / "chart").write_text(positional[1])
        (STATE / "manifest.yaml").write_text(manifest)
        print(f'Release "{positional[0]}" has been upgraded. Happy Helming!')
    else:
        fail(f"fake helm: unsupported command {argv}", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
