//! Where each kind keeps its pods, and typed views of a pod template: [`PodTemplate`] to read
//! it (the rules, and the passes deciding what to change), [`PodTemplateMut`] to edit it (the
//! passes). Only this file knows the paths; findings get their pointers from the views.

use serde_json::{Map, Value};

use crate::document::{kind as what_is, list_entry, object_entry};

/// Where a kind keeps its pod template: JSON pointers to the pod spec and to the template's
/// metadata (where pod annotations go).
#[derive(Debug, Clone, Copy)]
struct Paths {
    spec: &'static str,
    metadata: &'static str,
}

fn paths(kind: &str) -> Option<Paths> {
    let (spec, metadata) = match kind {
        "Pod" => ("/spec", "/metadata"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => ("/spec/template/spec", "/spec/template/metadata"),
        // A PodTemplate holds its template at the top, beside metadata.
        "PodTemplate" => ("/template/spec", "/template/metadata"),
        "CronJob" => (
            "/spec/jobTemplate/spec/template/spec",
            "/spec/jobTemplate/spec/template/metadata",
        ),
        _ => return None,
    };
    Some(Paths { spec, metadata })
}

/// Whether a kind runs pods that should stay up (and so needs liveness and readiness).
pub fn is_long_running(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet")
}

/// Whether a kind holds a pod template.
pub fn has_pods(kind: &str) -> bool {
    paths(kind).is_some()
}

/// The lists of a pod spec that hold containers.
pub const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The registry of an image reference, as the container runtime resolves it.
pub fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// A JSON pointer's reference token for `key` (RFC 6901).
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An object's pod template, to read: its pod spec and its metadata.
#[derive(Debug, Clone, Copy)]
pub struct PodTemplate<'a> {
    /// The pod spec.
    pub spec: &'a Value,
    /// The template's metadata (the object's own for a Pod), when written.
    metadata: Option<&'a Value>,
    paths: Paths,
}

/// A container of a pod template. The Dapr injector adds its `daprd` sidecar at admission,
/// so a container of that name in a rendered manifest is the chart's own.
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    /// `name`, or empty when it has none.
    pub name: &'a str,
    /// The container as written.
    pub value: &'a Value,
    /// The list it is in (`containers`, `initContainers` or `ephemeralContainers`).
    pub list: &'static str,
    /// Its position in that list.
    pub position: usize,
    spec: &'static str,
}

impl<'a> PodTemplate<'a> {
    /// The pod template of `object`, whose kind is `kind`: none for kinds without pods, or
    /// when the object has no pod spec.
    pub fn of(kind: &str, object: &'a Value) -> Option<Self> {
        let paths = paths(kind)?;
        Some(PodTemplate {
            spec: object.pointer(paths.spec)?,
            metadata: object.pointer(paths.metadata),
            paths,
        })
    }

    /// The template's annotation `key`, as written (not necessarily a string).
    pub fn annotation(&self, key: &str) -> Option<&'a Value> {
        self.metadata?.get("annotations")?.get(key)
    }

    /// The template's annotations, when they are a mapping.
    pub fn annotations(&self) -> Option<&'a Map<String, Value>> {
        self.metadata?.get("annotations")?.as_object()
    }

    /// The template's labels, when they are a mapping.
    pub fn labels(&self) -> Option<&'a Map<String, Value>> {
        self.metadata?.get("labels")?.as_object()
    }

    /// Where annotation `key` is (or would be) in the object, for findings.
    pub fn annotation_pointer(&self, key: &str) -> String {
        self.metadata_pointer(&format!("annotations/{}", token(key)))
    }

    /// Where field `field` of the template's metadata is (or would be), for findings.
    pub fn metadata_pointer(&self, field: &str) -> String {
        format!("{}/{field}", self.paths.metadata)
    }

    /// Where field `field` of the pod spec is (or would be) in the object, for findings.
    pub fn spec_pointer(&self, field: &str) -> String {
        format!("{}/{field}", self.paths.spec)
    }

    /// The pod's containers in `lists`, in the order of [`CONTAINER_LISTS`]; every one,
    /// whatever its name.
    pub fn containers(&self, lists: &[&str]) -> impl Iterator<Item = Container<'a>> + use<'a> {
        let spec = self.spec;
        let at = self.paths.spec;
        let lists: Vec<&'static str> = CONTAINER_LISTS
            .into_iter()
            .filter(|l| lists.contains(l))
            .collect();
        lists.into_iter().flat_map(move |list| {
            spec.get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(position, value)| Container {
                    name: value.get("name").and_then(Value::as_str).unwrap_or(""),
                    value,
                    list,
                    position,
                    spec: at,
                })
        })
    }

    /// The container named `name` in `containers` (the app containers): one that writes
    /// that name, never one without a name.
    pub fn container(&self, name: &str) -> Option<Container<'a>> {
        self.containers(&["containers"])
            .find(|c| c.value.get("name").and_then(Value::as_str) == Some(name))
    }

    /// The names in the pod spec's `imagePullSecrets`.
    pub fn pull_secret_names(&self) -> Vec<&'a str> {
        self.spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("name").and_then(Value::as_str))
            .collect()
    }
}

impl<'a> Container<'a> {
    /// Where the container is in the object.
    pub fn pointer(&self) -> String {
        format!("{}/{}/{}", self.spec, self.list, self.position)
    }

    /// Its `image`, when a string.
    pub fn image(&self) -> Option<&'a str> {
        self.value.get("image").and_then(Value::as_str)
    }
}

/// An object's pod template, to edit. Every edit keeps what it does not add to: a field on
/// the way that is not what Kubernetes reads is an error naming it, never replaced.
pub struct PodTemplateMut<'a> {
    object: &'a mut Value,
    paths: Paths,
}

impl<'a> PodTemplateMut<'a> {
    /// The pod template of `object`, whose kind is `kind`; none for kinds without pods.
    pub fn of(kind: &str, object: &'a mut Value) -> Option<Self> {
        Some(PodTemplateMut {
            paths: paths(kind)?,
            object,
        })
    }

    /// The template's annotations, created along the way where missing.
    pub fn annotations(&mut self) -> Result<&mut Map<String, Value>, String> {
        let metadata = mapping_at(self.object, self.paths.metadata)?;
        object_entry(metadata, "annotations").map_err(|e| format!("{}: {e}", self.paths.metadata))
    }

    /// The list `key` of the pod spec (`imagePullSecrets`, `volumes`), created when missing or
    /// null.
    pub fn spec_list(&mut self, key: &str) -> Result<&mut Vec<Value>, String> {
        let at = self.paths.spec;
        list_entry(mapping_at(self.object, at)?, key).map_err(|e| format!("{at}: {e}"))
    }

    /// The list `key` (`volumeMounts`) of the container at `position` of `containers`, created
    /// when missing or null. The container is one a [`PodTemplate`] found.
    pub fn container_list(
        &mut self,
        position: usize,
        key: &str,
    ) -> Result<&mut Vec<Value>, String> {
        let at = format!("{}/containers/{position}", self.paths.spec);
        let container = self
            .object
            .pointer_mut(&at)
            .ok_or_else(|| format!("{at} is not in the object"))?;
        list_entry(container, key).map_err(|e| format!("{at}: {e}"))
    }

    /// The container at `position` of `containers`, a mapping. The container is one a
    /// [`PodTemplate`] found.
    pub fn container(&mut self, position: usize) -> Result<&mut Map<String, Value>, String> {
        let at = format!("{}/containers/{position}", self.paths.spec);
        let container = self
            .object
            .pointer_mut(&at)
            .ok_or_else(|| format!("{at} is not in the object"))?;
        let what = what_is(container);
        container
            .as_object_mut()
            .ok_or_else(|| format!("{at} is {what}, not a mapping; Kubernetes cannot read it"))
    }
}

/// The mapping at `pointer`, created along the way where missing or null.
fn mapping_at<'v>(value: &'v mut Value, pointer: &str) -> Result<&'v mut Value, String> {
    let mut at = value;
    for key in pointer.split('/').skip(1) {
        object_entry(&mut *at, key).map_err(|e| format!("{pointer}: {e}"))?;
        at = at.get_mut(key).expect("just ensured");
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{PodTemplate, PodTemplateMut, image_registry};

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

    #[test]
    fn each_kind_keeps_its_template_where_kubernetes_reads_it() {
        let deployment = json!({"spec": {"template": {
            "metadata": {"annotations": {"a/b": "x"}},
            "spec": {"containers": [{"name": "app", "image": "r.io/app:1"}],
                     "initContainers": [{"name": "init"}]}}}});
        let pod = PodTemplate::of("Deployment", &deployment).unwrap();
        assert_eq!(pod.annotation("a/b"), Some(&json!("x")));
        assert_eq!(
            pod.annotation_pointer("a/b"),
            "/spec/template/metadata/annotations/a~1b"
        );
        let found: Vec<_> = pod
            .containers(&["initContainers", "containers"])
            .map(|c| (c.name, c.pointer()))
            .collect();
        assert_eq!(
            found,
            [
                ("app", "/spec/template/spec/containers/0".to_owned()),
                ("init", "/spec/template/spec/initContainers/0".to_owned())
            ]
        );
        assert_eq!(pod.container("app").unwrap().image(), Some("r.io/app:1"));
        assert!(
            pod.container("init").is_none(),
            "only app containers by name"
        );

        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}});
        let pod = PodTemplate::of("CronJob", &cron).unwrap();
        assert_eq!(
            pod.spec_pointer("volumes"),
            "/spec/jobTemplate/spec/template/spec/volumes"
        );
        assert!(PodTemplate::of("Service", &json!({"spec": {}})).is_none());
        assert!(PodTemplate::of("Deployment", &json!({"spec": {}})).is_none());
    }

    #[test]
    fn edits_create_what_is_missing_and_refuse_what_is_not_readable() {
        let mut pod = json!({"spec": {"containers": [{"name": "app", "volumeMounts": null}]}});
        let mut edit = PodTemplateMut::of("Pod", &mut pod).unwrap();
        edit.annotations().unwrap().insert("k".into(), json!("v"));
        edit.spec_list("volumes")
            .unwrap()
            .push(json!({"name": "v"}));
        edit.container_list(0, "volumeMounts")
            .unwrap()
            .push(json!({"name": "v"}));
        assert_eq!(
            pod,
            json!({"metadata": {"annotations": {"k": "v"}},
                   "spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "v"}]}],
                            "volumes": [{"name": "v"}]}})
        );

        let mut odd = json!({"spec": {"template": {"metadata": "x", "spec": {
            "volumes": {}, "containers": [{"name": "app", "volumeMounts": "x"}]}}}});
        let mut edit = PodTemplateMut::of("Job", &mut odd).unwrap();
        assert_eq!(
            edit.annotations().unwrap_err(),
            "/spec/template/metadata: `metadata` is a string, not a mapping; Kubernetes cannot read it"
        );
        assert_eq!(
            edit.spec_list("volumes").unwrap_err(),
            "/spec/template/spec: `volumes` is a mapping, not a list; Kubernetes cannot read it"
        );
        assert_eq!(
            edit.container_list(0, "volumeMounts").unwrap_err(),
            "/spec/template/spec/containers/0: `volumeMounts` is a string, not a list; Kubernetes cannot read it"
        );
        assert_eq!(
            odd["spec"]["template"]["spec"]["volumes"],
            json!({}),
            "kept as it was"
        );
    }
}
