//! Where each kind keeps its pods, and what runs in them.

use serde_json::Value;

/// JSON pointer to the pod spec of a workload kind.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("/spec/template/spec"),
        // A PodTemplate holds its template at the top, beside metadata.
        "PodTemplate" => Some("/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// JSON pointer to the pod template's metadata (where pod annotations go).
pub fn pod_metadata_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/metadata"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/metadata"),
        "PodTemplate" => Some("/template/metadata"),
        _ => pod_spec_pointer(kind).map(|_| "/spec/template/metadata"),
    }
}

/// Whether a kind runs pods that should stay up (and so needs liveness and readiness).
pub fn is_long_running(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet")
}

/// Whether a kind holds a pod spec.
pub fn has_pods(kind: &str) -> bool {
    pod_spec_pointer(kind).is_some()
}

/// The lists of a pod spec that hold containers.
pub const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Every container of a pod spec, with the list it is in.
pub fn containers(pod_spec: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    CONTAINER_LISTS.into_iter().flat_map(move |list| {
        pod_spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(move |c| (list, c))
    })
}

/// The names in a pod spec's `imagePullSecrets`.
pub fn pull_secret_names(pod_spec: &Value) -> Vec<&str> {
    pod_spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect()
}

/// The registry of an image reference, as the container runtime resolves it.
pub fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::image_registry;

    #[test]
    fn registry_of_an_image_reference() {
        assert_eq!(
            image_registry("harbor.virtufin.io/virtufin/api:1.0"),
            "harbor.virtufin.io"
        );
        assert_eq!(image_registry("localhost:5000/x"), "localhost:5000");
        assert_eq!(image_registry("localhost/x"), "localhost");
        assert_eq!(image_registry("nginx:1.27"), "docker.io");
        assert_eq!(image_registry("library/nginx"), "docker.io");
    }
}
