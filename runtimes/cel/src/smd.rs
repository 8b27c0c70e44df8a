//! An ApplyConfiguration merged as the API server merges it (structured-merge-diff's
//! `Merge`, k8s.io/apiserver's `ApplyStructuredMergeDiff`): the apply configuration is first
//! read against the object's schema (an undeclared field is an error) and refused if it sets
//! any atomic list, map or struct; then maps merge key by key, keyed lists item by item
//! (a new item goes last), sets by value, and scalars are replaced. Nothing is removed.
//!
//! Schemas: the built-in types' from client-go (schema/kubernetes.json, see
//! scripts/update-k8s-schema), and custom resources' from the release's
//! CustomResourceDefinitions.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// A type reference: a named type, or one written in place.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeRef {
    #[serde(default)]
    pub named_type: Option<String>,
    #[serde(flatten)]
    pub atom: Atom,
}

/// What a value of a type may be: a scalar, a list, a map, or (untyped) any of them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Atom {
    #[serde(default)]
    pub scalar: Option<String>,
    #[serde(default)]
    pub list: Option<Box<List>>,
    #[serde(default)]
    pub map: Option<Box<MapType>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    pub element_type: TypeRef,
    #[serde(default)]
    pub element_relationship: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapType {
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub element_type: Option<TypeRef>,
    #[serde(default)]
    pub element_relationship: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub type_ref: TypeRef,
    #[serde(default)]
    pub default: Option<Json>,
}

#[derive(Debug, Deserialize)]
struct NamedType {
    name: String,
    #[serde(flatten)]
    atom: Atom,
}

#[derive(Debug, Deserialize)]
struct SchemaFile {
    types: Vec<NamedType>,
}

/// Named types by name.
#[derive(Debug, Default)]
pub struct Schema {
    types: HashMap<String, Atom>,
}

/// The built-in types, read once, when an ApplyConfiguration first needs them.
pub fn builtin() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let file: SchemaFile = serde_json::from_str(include_str!("../schema/kubernetes.json"))
            .expect("schema/kubernetes.json is valid (scripts/update-k8s-schema writes it)");
        Schema {
            types: file.types.into_iter().map(|t| (t.name, t.atom)).collect(),
        }
    })
}

/// The schema's name of a built-in kind: `apps/v1` `Deployment` is
/// `io.k8s.api.apps.v1.Deployment`.
pub fn builtin_type(group: &str, version: &str, kind: &str) -> Option<String> {
    let name = match group {
        "" => format!("io.k8s.api.core.{version}.{kind}"),
        "apiextensions.k8s.io" => {
            format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}")
        }
        "apiregistration.k8s.io" => {
            format!("io.k8s.kube-aggregator.pkg.apis.apiregistration.{version}.{kind}")
        }
        g => format!(
            "io.k8s.api.{}.{version}.{kind}",
            g.split('.').next().unwrap_or_default()
        ),
    };
    builtin().types.contains_key(&name).then_some(name)
}

impl Schema {
    fn resolve<'a>(&'a self, t: &'a TypeRef) -> Result<&'a Atom, String> {
        match &t.named_type {
            Some(name) => self
                .types
                .get(name)
                .ok_or_else(|| format!("no type {name} in the schema")),
            None => Ok(&t.atom),
        }
    }

    /// Merges `patch` (an apply configuration) into `live`, both objects of the root type.
    pub fn apply(&self, root: &TypeRef, live: &Json, patch: &Json) -> Result<Json, String> {
        self.check(root, patch, &mut String::new())?;
        let mut atomics = Vec::new();
        self.atomics(root, patch, &mut String::new(), &mut atomics)?;
        if !atomics.is_empty() {
            return Err(format!(
                "may not mutate atomic arrays, maps or structs: {}",
                atomics.join(", ")
            ));
        }
        self.merge(root, Some(live), patch)
    }

    /// `ObjectToTyped`: every field declared, every value of its type's shape.
    fn check(&self, t: &TypeRef, v: &Json, path: &mut String) -> Result<(), String> {
        let atom = self.resolve(t)?;
        let at = |p: &str| {
            if p.is_empty() {
                ".".to_owned()
            } else {
                p.to_owned()
            }
        };
        match v {
            Json::Null => Ok(()),
            Json::Object(map) => {
                let Some(m) = &atom.map else {
                    return Err(format!("{}: expected {}, got a map", at(path), shape(atom)));
                };
                for (key, value) in map {
                    let len = path.len();
                    path.push('.');
                    path.push_str(key);
                    let field = m
                        .fields
                        .iter()
                        .find(|f| &f.name == key)
                        .map(|f| &f.type_ref);
                    match field.or(m.element_type.as_ref()) {
                        Some(ft) => self.check(ft, value, path)?,
                        None => return Err(format!("{path}: field not declared in schema")),
                    }
                    path.truncate(len);
                }
                Ok(())
            }
            Json::Array(items) => {
                let Some(l) = &atom.list else {
                    return Err(format!(
                        "{}: expected {}, got a list",
                        at(path),
                        shape(atom)
                    ));
                };
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    self.check(&l.element_type, item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            scalar => match atom.scalar.as_deref() {
                None => Err(format!(
                    "{}: expected {}, got a scalar",
                    at(path),
                    shape(atom)
                )),
                Some("string") if !scalar.is_string() => {
                    Err(format!("{}: expected a string, got {scalar}", at(path)))
                }
                Some("numeric") if !scalar.is_number() => {
                    Err(format!("{}: expected a number, got {scalar}", at(path)))
                }
                Some("boolean") if !scalar.is_boolean() => {
                    Err(format!("{}: expected a boolean, got {scalar}", at(path)))
                }
                Some(_) => Ok(()),
            },
        }
    }

    /// The API server's `findAtomics`: atomic maps and lists the apply configuration sets,
    /// looking into declared fields and list items.
    fn atomics(
        &self,
        t: &TypeRef,
        v: &Json,
        path: &mut String,
        found: &mut Vec<String>,
    ) -> Result<(), String> {
        let atom = self.resolve(t)?;
        match (v, &atom.map, &atom.list) {
            (Json::Object(map), Some(m), _) => {
                if m.element_relationship.as_deref() == Some("atomic") {
                    found.push(path.clone());
                }
                for (key, value) in map {
                    if let Some(field) = m.fields.iter().find(|f| &f.name == key) {
                        let len = path.len();
                        path.push('.');
                        path.push_str(key);
                        self.atomics(&field.type_ref, value, path, found)?;
                        path.truncate(len);
                    }
                }
            }
            (Json::Array(items), _, Some(l)) => {
                if l.element_relationship.as_deref().unwrap_or("atomic") == "atomic" {
                    found.push(path.clone());
                }
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    self.atomics(&l.element_type, item, path, found)?;
                    path.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn merge(&self, t: &TypeRef, live: Option<&Json>, patch: &Json) -> Result<Json, String> {
        let atom = self.resolve(t)?;
        match (patch, &atom.map, &atom.list) {
            (Json::Object(fields), Some(m), _) => {
                let mut out = match live {
                    Some(Json::Object(live)) => live.clone(),
                    _ => Map::new(),
                };
                for (key, value) in fields {
                    let ft = m
                        .fields
                        .iter()
                        .find(|f| &f.name == key)
                        .map(|f| &f.type_ref)
                        .or(m.element_type.as_ref())
                        .ok_or_else(|| format!("field {key} not declared in schema"))?;
                    let merged = self.merge(ft, out.get(key), value)?;
                    out.insert(key.clone(), merged);
                }
                Ok(Json::Object(out))
            }
            (Json::Array(items), _, Some(l)) => {
                let live_items = match live {
                    Some(Json::Array(live)) => live.clone(),
                    _ => Vec::new(),
                };
                match l.element_relationship.as_deref() {
                    Some("associative") if !l.keys.is_empty() => {
                        self.merge_keyed(l, live_items, items)
                    }
                    Some("associative") => {
                        let mut out = live_items;
                        for item in items {
                            if !out.contains(item) {
                                out.push(item.clone());
                            }
                        }
                        Ok(Json::Array(out))
                    }
                    _ => Ok(patch.clone()),
                }
            }
            _ => Ok(patch.clone()),
        }
    }

    /// A list of maps keyed by some of their fields: a patch item merges into the live item
    /// with its key, or goes last.
    fn merge_keyed(&self, l: &List, mut out: Vec<Json>, items: &[Json]) -> Result<Json, String> {
        let element = self.resolve(&l.element_type)?;
        let key_of = |item: &Json| -> Result<Vec<Json>, String> {
            l.keys
                .iter()
                .map(|k| {
                    let default = element
                        .map
                        .as_ref()
                        .and_then(|m| m.fields.iter().find(|f| &f.name == k))
                        .and_then(|f| f.default.clone());
                    item.get(k).cloned().or(default).ok_or_else(|| {
                        format!(
                            "an item of a list keyed by {} has no {k}",
                            l.keys.join(", ")
                        )
                    })
                })
                .collect()
        };
        let mut seen: Vec<Vec<Json>> = Vec::new();
        for item in items {
            let key = key_of(item)?;
            if seen.contains(&key) {
                return Err(format!(
                    "two items of a list keyed by {} share the key {}",
                    l.keys.join(", "),
                    Json::Array(key.clone())
                ));
            }
            seen.push(key.clone());
            let mut at = out
                .iter()
                .enumerate()
                .filter(|(_, live)| key_of(live).is_ok_and(|k| k == key))
                .map(|(i, _)| i);
            match at.next() {
                Some(i) => {
                    // Live duplicates of a key the patch touches become one item, as
                    // structured-merge-diff merges them (the apiserver's own test says so).
                    let duplicates: Vec<usize> = at.collect();
                    out[i] = self.merge(&l.element_type, Some(&out[i]), item)?;
                    for d in duplicates.into_iter().rev() {
                        out.remove(d);
                    }
                }
                None => out.push(self.merge(&l.element_type, None, item)?),
            }
        }
        Ok(Json::Array(out))
    }
}

fn shape(atom: &Atom) -> String {
    let mut kinds = Vec::new();
    if let Some(s) = &atom.scalar {
        kinds.push(format!("a scalar ({s})"));
    }
    if atom.list.is_some() {
        kinds.push("a list".to_owned());
    }
    if atom.map.is_some() {
        kinds.push("a map".to_owned());
    }
    kinds.join(" or ")
}

/// A custom resource's schema from its CustomResourceDefinition's `openAPIV3Schema`, as the
/// API server derives one: lists atomic unless `x-kubernetes-list-type` says `set` or `map`,
/// maps granular unless `x-kubernetes-map-type: atomic`, unknown fields kept where
/// `x-kubernetes-preserve-unknown-fields` says so.
pub fn from_openapi(schema: &Json) -> TypeRef {
    let untyped = || TypeRef {
        named_type: Some("__untyped_deduced_".into()),
        atom: Atom::default(),
    };
    if schema.get("x-kubernetes-int-or-string") == Some(&Json::Bool(true)) {
        return TypeRef {
            atom: Atom {
                scalar: Some("untyped".into()),
                ..Atom::default()
            },
            ..TypeRef::default()
        };
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Json::Bool(true));
    match schema.get("type").and_then(Json::as_str) {
        Some("object") => {
            let fields: Vec<Field> = schema
                .get("properties")
                .and_then(Json::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, s)| Field {
                            name: name.clone(),
                            type_ref: from_openapi(s),
                            default: s.get("default").cloned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let element_type = match schema.get("additionalProperties") {
                Some(Json::Object(s)) => Some(from_openapi(&Json::Object(s.clone()))),
                Some(Json::Bool(true)) => Some(untyped()),
                _ if preserve => Some(untyped()),
                _ => None,
            };
            let atomic =
                schema.get("x-kubernetes-map-type").and_then(Json::as_str) == Some("atomic");
            TypeRef {
                atom: Atom {
                    map: Some(Box::new(MapType {
                        fields,
                        element_type,
                        element_relationship: atomic.then(|| "atomic".into()),
                    })),
                    ..Atom::default()
                },
                ..TypeRef::default()
            }
        }
        Some("array") => {
            let items = schema.get("items").map_or_else(untyped, from_openapi);
            let (relationship, keys) =
                match schema.get("x-kubernetes-list-type").and_then(Json::as_str) {
                    Some("map") => (
                        "associative",
                        schema
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Json::as_array)
                            .map(|k| {
                                k.iter()
                                    .filter_map(|k| k.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    Some("set") => ("associative", Vec::new()),
                    _ => ("atomic", Vec::new()),
                };
            TypeRef {
                atom: Atom {
                    list: Some(Box::new(List {
                        element_type: items,
                        element_relationship: Some(relationship.into()),
                        keys,
                    })),
                    ..Atom::default()
                },
                ..TypeRef::default()
            }
        }
        Some("string") | Some("integer") | Some("number") | Some("boolean") => TypeRef {
            atom: Atom {
                scalar: Some(match schema["type"].as_str() {
                    Some("string") => "string".into(),
                    Some("boolean") => "boolean".into(),
                    _ => "numeric".into(),
                }),
                ..Atom::default()
            },
            ..TypeRef::default()
        },
        _ => untyped(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> TypeRef {
        TypeRef {
            named_type: builtin_type("apps", "v1", "Deployment"),
            atom: Atom::default(),
        }
    }

    #[test]
    fn keyed_lists_merge_by_key_and_new_items_go_last() {
        let live = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "a:1", "ports": [{"containerPort": 80}]}],
            "initContainers": [{"name": "init", "image": "i:1"}]
        }}}});
        let patch = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "a:2", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]}],
            "initContainers": [{"name": "mesh-proxy", "image": "mesh/proxy:v1.0.0", "restartPolicy": "Always"}]
        }}}});
        let out = builtin().apply(&deployment(), &live, &patch).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "a:2", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]}],
                "initContainers": [{"name": "init", "image": "i:1"}, {"name": "mesh-proxy", "image": "mesh/proxy:v1.0.0", "restartPolicy": "Always"}]
            }}}})
        );
    }

    #[test]
    fn atomic_fields_and_undeclared_fields_are_refused_as_the_api_server_refuses_them() {
        let live = json!({"spec": {}});
        let args = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["x"]}]}}}});
        let err = builtin().apply(&deployment(), &live, &args).unwrap_err();
        assert!(
            err.contains("may not mutate atomic")
                && err.contains(".spec.template.spec.containers[0].args"),
            "{err}"
        );
        let selector = json!({"spec": {"selector": {"matchLabels": {"a": "b"}}}});
        assert!(
            builtin()
                .apply(&deployment(), &live, &selector)
                .unwrap_err()
                .contains(".spec.selector")
        );
        let unknown = json!({"spec": {"replicaz": 3}});
        assert!(
            builtin()
                .apply(&deployment(), &live, &unknown)
                .unwrap_err()
                .contains("not declared")
        );
        let wrong = json!({"spec": {"replicas": "three"}});
        assert!(builtin().apply(&deployment(), &live, &wrong).is_err());
    }

    #[test]
    fn duplicates_of_a_touched_key_become_one_and_others_stay() {
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "nginx", "env": [
            {"name": "test", "value": "a"}, {"name": "test", "value": "b"}, {"name": "foo", "value": "bar"}
        ]}]}}}});
        let touch = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "test", "value": "c"}]}]}}}});
        let out = builtin().apply(&deployment(), &live, &touch).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "test", "value": "c"}, {"name": "foo", "value": "bar"}])
        );
        let other = json!({"spec": {"replicas": 3}});
        let out = builtin().apply(&deployment(), &live, &other).unwrap();
        assert_eq!(out["spec"]["template"], live["spec"]["template"]);
    }

    #[test]
    fn maps_merge_key_by_key() {
        let live = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let patch = json!({"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 3}});
        let out = builtin().apply(&deployment(), &live, &patch).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn custom_resources_follow_their_openapi_schema() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}},
                "tags": {"type": "array", "items": {"type": "string"}}
            }}
        }});
        let root = from_openapi(&schema);
        let schema = builtin();
        let live = json!({"spec": {"items": [{"name": "a", "value": "1"}]}});
        let out = schema
            .apply(
                &root,
                &live,
                &json!({"spec": {"items": [{"name": "a", "value": "2"}]}}),
            )
            .unwrap();
        assert_eq!(
            out,
            json!({"spec": {"items": [{"name": "a", "value": "2"}]}})
        );
        assert!(
            schema
                .apply(&root, &live, &json!({"spec": {"tags": ["x"]}}))
                .is_err()
        );
    }
}
