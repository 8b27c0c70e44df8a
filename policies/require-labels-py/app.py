"""The require-labels policy module (policies/require-labels) in Python: every object carries
the labels and annotations a team requires. Built into a component by componentize-py
(scripts/build-wasm):

    componentize-py -d wit/policy.wit -w module componentize app -p policies/require-labels-py \
        -o target/policies/require-labels-py.wasm --stub-wasi

`--stub-wasi` leaves out every WASI import (the sandbox grants none): printing then traps, so
this module never prints. Settings: {"labels": ["team"], "annotations": ["cost-center"]}.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    Error_InvalidSettings,
    Finding,
    Metadata,
    RuleInfo,
    Severity,
    Verdict,
)


def settings_of(text):
    try:
        settings = json.loads(text)
    except ValueError as e:
        raise Err(Error_InvalidSettings(str(e)))
    if not isinstance(settings, dict) or set(settings) - {"labels", "annotations"}:
        raise Err(Error_InvalidSettings("settings are {labels: [...], annotations: [...]}"))
    labels = settings.get("labels", [])
    annotations = settings.get("annotations", [])
    if not all(isinstance(k, str) for k in labels + annotations):
        raise Err(Error_InvalidSettings("labels and annotations are lists of strings"))
    if not labels and not annotations:
        raise Err(Error_InvalidSettings("give at least one label or annotation to require"))
    return labels, annotations


class Policy(exports.Policy):
    def describe(self):
        return Metadata(
            name="require-labels",
            version="0.1.0",
            rules=[
                RuleInfo("team-required-labels", "objects carry the labels the team requires",
                         "add the labels to the object's metadata.labels", Severity.ERROR),
                RuleInfo("team-required-annotations",
                         "objects carry the annotations the team requires (cost-center, ...)",
                         "add the annotations to the object's metadata.annotations", Severity.ERROR),
            ],
            kinds=[],
            needs_object=False,
        )

    def validate_settings(self, settings):
        settings_of(settings)

    def evaluate(self, documents, settings):
        labels, annotations = settings_of(settings)
        findings = []
        for doc in documents:
            for rule, wanted, present, path in (
                ("team-required-labels", labels, doc.labels, "/metadata/labels"),
                ("team-required-annotations", annotations, doc.annotations, "/metadata/annotations"),
            ):
                have = {k for k, v in present if v}
                missing = [k for k in wanted if k not in have]
                if missing:
                    findings.append(Finding(rule, None, "lacks " + ", ".join(missing), doc.index, None, path))
        return Verdict(findings, [])
