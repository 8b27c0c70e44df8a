"""Rendering the chart with the real Helm engine, and reading the result."""

import copy
import hashlib

import yaml

from conftest import REPO, helm
from validate import docs

CHART = REPO / "chart"
CI = sorted((CHART / "ci").glob("*-values.yaml"))
CONTRACT = ("PostRenderContract", "virtufin")


def render(values=(), *, post_render=False, strategy=None, args=(), **kw):
    """The release manifest of a client dry-run install, as {(kind, name): object}, in order."""
    out = helm("install", CHART, values=[str(v) for v in values],
               post_renderer="vf-post" if post_render else None,
               args=list(args) if post_render else None, strategy=strategy, **kw)
    assert out["ok"], out.get("error")
    return out["manifest"], {(d["kind"], d["metadata"]["name"]): d for d in docs(out["manifest"])}


def merged_values(*files):
    """chart/values.yaml with the given files merged over it, as Helm coalesces them."""
    def merge(base, over):
        out = copy.deepcopy(base)
        for key, value in (over or {}).items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    with open(CHART / "values.yaml", encoding="utf-8") as f:
        values = yaml.safe_load(f)
    for path in files:
        with open(path, encoding="utf-8") as f:
            values = merge(values, yaml.safe_load(f))
    return values


def services(values):
    """{key: service values} of the enabled services, backends included, defaults merged."""
    out = {}
    for key in ("api", "workmanager", "websocketmanager"):
        if values[key]["enabled"]:
            out[key] = values[key]
    for key, backend in (values.get("backends") or {}).items():
        svc = {"enabled": True, "role": "backend", "replicas": 1,
               "health": {"liveness": "/health", "readiness": "/health", "dapr": "/health"},
               "dapr": {"enabled": True, "appId": key}}
        for k, v in backend.items():
            svc[k] = {**svc.get(k, {}), **v} if isinstance(v, dict) and isinstance(svc.get(k), dict) else v
        if svc.get("enabled", True):
            out[key] = svc
    return out


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()
