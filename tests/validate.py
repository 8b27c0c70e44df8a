"""Real validators: Kubernetes' own schemas (kubernetes-validate, strict), and the CRD schemas
of Dapr (v1.18.3) and the Prometheus Operator (v0.93.0), made strict the way
`kubectl --validate=strict` is."""

import copy
import functools
import hashlib
import pathlib
import re

import jsonschema
import kubernetes_validate
import yaml

from conftest import SHARED

K8S_VERSION = kubernetes_validate.latest_version()
DAPR_CRDS = ["components", "configuration", "resiliency", "subscription", "httpendpoints"]
# Vendored unchanged (tests/schemas/prometheus-operator/SOURCE.md), pinned by digest.
PROMETHEUS_CRDS = {
    "monitoring.coreos.com_podmonitors.yaml":
        "45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d",
    "monitoring.coreos.com_servicemonitors.yaml":
        "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
}
PROMETHEUS_DIR = pathlib.Path(__file__).parent / "schemas" / "prometheus-operator"


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


def served(crd, out):
    """Adds {(apiVersion, kind): strict JSON schema} for every version the CRD serves."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if version.get("served"):
            out[(f"{group}/{version['name']}", kind)] = strict(version["schema"]["openAPIV3Schema"])


@functools.cache
def crd_schemas():
    """The strict schemas of every CRD the chart's objects may be: Dapr's, Prometheus'."""
    out = {}
    for name in DAPR_CRDS:
        with open(SHARED / "dapr-crds" / f"{name}.yaml", encoding="utf-8") as f:
            served(yaml.safe_load(f), out)
    for name, digest in PROMETHEUS_CRDS.items():
        data = (PROMETHEUS_DIR / name).read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        assert actual == digest, f"{name} is not the vendored v0.93.0 CRD (sha256 {actual})"
        served(yaml.safe_load(data), out)
    return out


CRD_GROUPS = ("dapr.io/", "monitoring.coreos.com/")
# ObjectMeta as the API server checks it for every kind (apimachinery's validation): the CRD
# schemas leave metadata out.
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def metadata_problems(meta):
    out = []
    for key, value in (meta.get("labels") or {}).items():
        prefix = key.rpartition("/")[0]
        if not LABEL_KEY.match(key) or len(prefix) > 253:
            out.append(f"metadata/labels: invalid key {key!r}")
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            out.append(f"metadata/labels/{key}: invalid value {value!r}")
    return out


def problems(obj, version=K8S_VERSION):
    """Why `obj` would be refused by Kubernetes `version`, or [] if it is valid. Dapr and
    Prometheus Operator kinds go to their CRD schemas."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key[0] and key[0].startswith(CRD_GROUPS):
        schema = crd_schemas().get(key)
        if schema is None:
            return [f"no CRD serves {key}"]
        validator = jsonschema.Draft7Validator(schema)
        return metadata_problems(obj.get("metadata") or {}) + \
            [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"no Kubernetes schema: {e}"]


def docs(manifest):
    """The objects of a manifest, in order."""
    return [d for d in yaml.safe_load_all(manifest) if d]
