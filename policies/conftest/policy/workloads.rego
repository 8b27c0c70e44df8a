# An example conftest policy, as teams keep them for `conftest test` in CI: run by vf-post on
# every object of the release (policies/conftest/vf-post.yaml).
package main

import rego.v1

workloads := {"Deployment", "StatefulSet", "DaemonSet"}

# Every workload names its owning team.
deny contains msg if {
	input.kind in workloads
	not input.metadata.labels.team
	msg := sprintf("%s %s has no `team` label", [input.kind, input.metadata.name])
}

# Images come from the platform's registry.
deny_registry contains {"msg": sprintf("container %s pulls %s, not from harbor.example.io", [c.name, c.image])} if {
	input.kind in workloads
	some c in input.spec.template.spec.containers
	not startswith(c.image, "harbor.example.io/")
}

warn_replicas contains sprintf("%s %s runs a single replica", [input.kind, input.metadata.name]) if {
	input.kind == "Deployment"
	object.get(input.spec, "replicas", 1) < 2
}

# conftest's exceptions: the legacy worker keeps its image until it is retired.
exception contains ["registry"] if input.metadata.name == "legacy-worker"
