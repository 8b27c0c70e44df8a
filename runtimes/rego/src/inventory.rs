//! `data.inventory`, as Gatekeeper's sync fills it from the cluster: here, the release's
//! objects (or a test case's inventory). Namespaced objects under
//! `namespace[<ns>][<apiVersion>][<kind>][<name>]`, the others under
//! `cluster[<apiVersion>][<kind>][<name>]`. The release's objects are stored as the API server
//! admits them (their namespace filled in), so a policy finds the object under review among
//! them, equal to `input.review.object`.

use serde_json::{Map, Value as Json};
use vf_kube::Cluster;

pub fn of<'a>(objects: impl Iterator<Item = &'a Json>, cluster: &Cluster, admit: bool) -> Json {
    let mut namespaced = Map::new();
    let mut cluster_scoped = Map::new();
    for object in objects {
        let Some(target) = cluster.target(object) else {
            continue;
        };
        let api = object
            .get("apiVersion")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let at = if target.namespace.is_empty() {
            &mut cluster_scoped
        } else {
            namespaced
                .entry(target.namespace.clone())
                .or_insert_with(|| Json::Object(Map::new()))
                .as_object_mut()
                .expect("made an object")
        };
        let kinds = at
            .entry(api.to_owned())
            .or_insert_with(|| Json::Object(Map::new()))
            .as_object_mut()
            .expect("made an object");
        let names = kinds
            .entry(target.kind.clone())
            .or_insert_with(|| Json::Object(Map::new()))
            .as_object_mut()
            .expect("made an object");
        let stored = if admit {
            crate::gatekeeper::admitted(object, &target)
        } else {
            object.clone()
        };
        names.insert(target.name.clone(), stored);
    }
    serde_json::json!({"namespace": namespaced, "cluster": cluster_scoped})
}
