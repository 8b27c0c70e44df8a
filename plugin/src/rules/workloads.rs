//! Workloads: resources, probes and the pod security baseline.

use serde_json::Value;

use super::{Context, Hit, catalog};
use crate::workload::is_long_running;

pub(super) fn check(ctx: &Context, hits: &mut Vec<Hit>) {
    for pod in ctx.pods() {
        let pod_security = pod.template.spec.get("securityContext");
        for c in pod.template.containers(&["containers", "initContainers"]) {
            let hit = |rule: &str, message: String, at: &str| {
                Hit::new(rule, pod.index, message)
                    .at(format!("{}{at}", c.pointer()))
                    .container(c.name)
            };
            let resources = c.value.get("resources");
            let missing = |kind: &str, names: &[&str]| -> Vec<String> {
                names
                    .iter()
                    .filter(|n| {
                        resources
                            .and_then(|r| r.get(kind))
                            .and_then(|m| m.get(**n))
                            .is_none()
                    })
                    .map(|n| (*n).to_owned())
                    .collect()
            };
            let requests = missing("requests", &["cpu", "memory"]);
            if !requests.is_empty() {
                hits.push(hit(
                    catalog::CONTAINER_REQUESTS.id,
                    lacks("requests", &requests),
                    "/resources",
                ));
            }
            let limits = missing("limits", &["memory", "cpu"]);
            if !limits.is_empty() {
                hits.push(hit(
                    catalog::CONTAINER_LIMITS.id,
                    lacks("limits", &limits),
                    "/resources",
                ));
            }
            let security = c.value.get("securityContext");
            let field = |name: &str| {
                security
                    .and_then(|s| s.get(name))
                    .or_else(|| pod_security.and_then(|s| s.get(name)))
            };
            let non_root = field("runAsNonRoot") == Some(&Value::Bool(true))
                || field("runAsUser")
                    .and_then(Value::as_i64)
                    .is_some_and(|u| u > 0);
            if !non_root || field("runAsUser").and_then(Value::as_i64) == Some(0) {
                hits.push(hit(
                    catalog::RUN_AS_NON_ROOT.id,
                    "may run as root".into(),
                    "/securityContext",
                ));
            }
            if security.and_then(|s| s.get("allowPrivilegeEscalation")) != Some(&Value::Bool(false))
            {
                hits.push(hit(
                    catalog::NO_PRIVILEGE_ESCALATION.id,
                    "does not set allowPrivilegeEscalation: false".into(),
                    "/securityContext/allowPrivilegeEscalation",
                ));
            }
            if security.and_then(|s| s.get("privileged")) == Some(&Value::Bool(true)) {
                hits.push(hit(
                    catalog::NOT_PRIVILEGED.id,
                    "runs privileged".into(),
                    "/securityContext/privileged",
                ));
            }
        }
        if is_long_running(pod.doc.kind()) && !pod.doc.is_hook() {
            for c in pod.template.containers(&["containers"]) {
                let missing: Vec<&str> = ["livenessProbe", "readinessProbe"]
                    .into_iter()
                    .filter(|p| c.value.get(*p).is_none())
                    .collect();
                if !missing.is_empty() {
                    hits.push(
                        Hit::new(
                            catalog::CONTAINER_PROBES.id,
                            pod.index,
                            format!("has no {}", missing.join(" and ")),
                        )
                        .at(c.pointer())
                        .container(c.name),
                    );
                }
            }
        }
        for (i, volume) in pod
            .template
            .spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(host) = volume.get("hostPath") {
                let path = host.get("path").and_then(Value::as_str).unwrap_or("?");
                let name = volume.get("name").and_then(Value::as_str).unwrap_or("?");
                hits.push(
                    Hit::new(
                        catalog::NO_HOST_PATH.id,
                        pod.index,
                        format!("volume {name} mounts the node's {path}"),
                    )
                    .at(pod.template.spec_pointer(&format!("volumes/{i}/hostPath"))),
                );
            }
        }
        if pod.template.spec.get("hostNetwork") == Some(&Value::Bool(true)) {
            hits.push(
                Hit::new(
                    catalog::NO_HOST_NETWORK.id,
                    pod.index,
                    "uses the node's network (hostNetwork: true)".into(),
                )
                .at(pod.template.spec_pointer("hostNetwork")),
            );
        }
    }
}

/// "requests no memory", or "requests neither cpu nor memory".
fn lacks(verb: &str, missing: &[String]) -> String {
    match missing {
        [one] => format!("{verb} no {one}"),
        [a, b] => format!("{verb} neither {a} nor {b}"),
        _ => format!("{verb} nothing"),
    }
}
