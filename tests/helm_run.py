"""Runs the real Helm v4.2.3 engine (helm-python-sdk) once and prints the result as JSON.

Each call is its own process because Helm's Go runtime reads HELM_PLUGINS and
HELM_CACHE_HOME at start-up (reference/helm.md §12): the caller sets them per call.

    python tests/helm_run.py install CHART [--release R] [--namespace N] [-f VALUES]...
        [--set-json JSON] [--post-renderer NAME] [--args JSON-LIST] [--strategy S]
    python tests/helm_run.py lint CHART [-f VALUES]...

Prints {"ok": true, ...result} or {"ok": false, "error": "...", "type": "..."}.
"""

import argparse
import json
import sys

import yaml


def merge(base, over):
    """Helm's value coalescing for -f files: maps merge, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def values_of(args):
    values = {}
    for path in args.values or []:
        with open(path, encoding="utf-8") as f:
            values = merge(values, yaml.safe_load(f) or {})
    if args.set_json:
        values = merge(values, json.loads(args.set_json))
    return values or None


def install(args):
    import helm_python as helm
    from helm_python import _native

    opts = {"dry_run": "client"}
    if args.post_renderer:
        opts["post_renderer"] = args.post_renderer
        opts["post_renderer_args"] = json.loads(args.args)
    if args.strategy:
        opts["post_render_strategy"] = args.strategy
    if args.api_versions:
        opts["api_versions"] = json.loads(args.api_versions)
    values = values_of(args)
    with helm.Config(namespace=args.namespace) as cfg:
        out = _native.call_string(
            "helm_install", cfg._raw(), _native.HANDLE(0), _native.HANDLE(0),
            args.chart, args.release, None if values is None else json.dumps(values),
            json.dumps(opts))
    return json.loads(out)


def lint(args):
    import helm_python as helm

    return helm.lint(args.chart, values_of(args), strict=True, namespace=args.namespace)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["install", "lint"])
    parser.add_argument("chart")
    parser.add_argument("--release", default="virtufin")
    parser.add_argument("--namespace", default="virtufin")
    parser.add_argument("-f", "--values", action="append")
    parser.add_argument("--set-json")
    parser.add_argument("--post-renderer")
    parser.add_argument("--args", default="[]")
    parser.add_argument("--strategy")
    parser.add_argument("--api-versions", help="JSON list, as `helm install --api-versions`")
    args = parser.parse_args()
    try:
        result = install(args) if args.command == "install" else lint(args)
        print(json.dumps({"ok": True, **result}))
    except Exception as e:  # Helm's errors arrive as exceptions; the caller decides.
        print(json.dumps({"ok": False, "error": str(e), "type": type(e).__name__}))


if __name__ == "__main__":
    sys.exit(main())
