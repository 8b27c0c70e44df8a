"""Real validators: Kubernetes' own schemas (kubernetes-validate, strict) and Dapr's CRD
schemas (v1.18.3, made strict the way `kubectl --validate=strict` is)."""

import copy
import functools

import jsonschema
import kubernetes_validate
import yaml

from conftest import SHARED

K8S_VERSION = kubernetes_validate.latest_version()
DAPR_CRDS = ["components", "configuration", "resiliency", "subscription", "httpendpoints"]


def strict(schema):
    """Rejects unknown fields wherever the CRD lists properties and does not keep unknowns."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # metadata is validated by the API server's ObjectMeta, not by the CRD.
    schema.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)
    return schema


@functools.cache
def dapr_schemas():
    """{(apiVersion, kind): strict JSON schema} for every served Dapr CRD version."""
    out = {}
    for name in DAPR_CRDS:
        with open(SHARED / "dapr-crds" / f"{name}.yaml", encoding="utf-8") as f:
            crd = yaml.safe_load(f)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                out[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])
    return out


def problems(obj):
    """Why `obj` would be refused, or [] if it is valid. Dapr kinds go to their CRD schemas."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key[0] and key[0].startswith("dapr.io/"):
        schema = dapr_schemas().get(key)
        if schema is None:
            return [f"no Dapr CRD serves {key}"]
        validator = jsonschema.Draft7Validator(schema)
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"no Kubernetes schema: {e}"]


def docs(manifest):
    """The objects of a manifest, in order."""
    return [d for d in yaml.safe_load_all(manifest) if d]
