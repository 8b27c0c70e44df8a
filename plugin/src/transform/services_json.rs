//! The gateway's services.json: a ConfigMap generated from the backends actually in the
//! release, mounted where the gateway reads it, with a checksum on the gateway's pod template
//! so the gateway rolls out when the list changes. Format: reference/dapr.md §6.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Applied, container_of, object_name, workload_of};
use crate::contract::{App, Contract, Role, ServicesJson};
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::workload::{PodTemplate, PodTemplateMut};

/// Name of the pass in reports.
pub const PASS: &str = "services-json";

/// Volume name of the mount in the gateway's pod.
const VOLUME: &str = "vf-services-json";
/// Pod template annotation that changes with the file, so the gateway rolls out.
pub const CHECKSUM: &str = "checksum/services-json";

pub fn apply(stream: &mut Stream, contract: &Contract, log: &mut Vec<Applied>) -> Result<()> {
    let Some(settings) = &contract.services_json else {
        return Ok(());
    };
    let gateways: Vec<&App> = contract
        .apps
        .iter()
        .filter(|a| a.role == Role::Gateway)
        .collect();
    let Some(first_gateway) = gateways.first() else {
        return Ok(()); // No gateway in this release: nobody reads services.json.
    };
    let text = render(stream, contract, settings)?;
    let checksum = format!("{:x}", Sha256::digest(text.as_bytes()));
    if let Some(clash) = stream
        .documents()
        .iter()
        .find(|d| d.kind() == "ConfigMap" && d.name() == settings.config_map && !d.is_generated())
    {
        return Err(contract.error(&format!(
            "services.json ConfigMap {} clashes with a ConfigMap of the chart ({})",
            settings.config_map,
            clash.source.as_deref().unwrap_or("unknown template")
        )));
    }
    let before = workload_of(stream, contract, first_gateway)?;
    // kubectl's order (alphabetical): services.json is a block that reads well, and it does
    // not end the document, where Helm's manifest splitting would trim its last line break.
    let config_map = json!({
        "apiVersion": "v1",
        "data": { settings.key.clone(): text },
        "kind": "ConfigMap",
        "metadata": metadata(contract, &settings.config_map),
    });
    let source = contract
        .source
        .as_deref()
        .and_then(|s| s.rsplit_once('/'))
        .map(|(dir, _)| format!("{dir}/vf-services.yaml"));
    let doc = stream.add(config_map, source, before);
    log.push(Applied {
        pass: PASS.into(),
        object: object_name(doc),
        source: doc.source.clone(),
        change: "generated".into(),
    });
    for gateway in gateways {
        mount(stream, contract, gateway, settings, &checksum, log)?;
    }
    Ok(())
}

/// services.json for the backends present in the release, sorted by name.
fn render(stream: &Stream, contract: &Contract, settings: &ServicesJson) -> Result<String> {
    let mut entries = Vec::new();
    for app in contract.apps.iter().filter(|a| a.role == Role::Backend) {
        let workload = &stream.documents()[workload_of(stream, contract, app)?];
        // The app id the pod carries after the last mutation, which is what Dapr uses.
        let app_id = workload
            .value()
            .and_then(|v| PodTemplate::of(workload.kind(), v))
            .and_then(|pod| pod.annotation(crate::dapr::APP_ID))
            .and_then(Value::as_str)
            .unwrap_or(&app.dapr.app_id);
        let service = stream
            .documents()
            .iter()
            .find(|d| d.kind() == "Service" && d.name() == app.service && !d.is_hook())
            .ok_or_else(|| {
                contract.error(&format!(
                    "backend {} names Service {}, which is not in the release",
                    app.name, app.service
                ))
            })?;
        let namespace = service
            .namespace()
            .or(contract.namespace.as_deref())
            .unwrap_or("default");
        let port = service
            .value()
            .and_then(|v| v.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "grpc")
            .and_then(|p| p["port"].as_u64())
            .unwrap_or(u64::from(app.ports.grpc));
        entries.push(json!({
            "name": app.name,
            "protocol": "grpc",
            "daprAppId": app_id,
            "grpc": {
                "host": format!("{}.{namespace}.svc.{}", app.service, settings.cluster_domain),
                "port": port,
            },
            "pubsub": { "pubsubName": settings.pubsub },
            "state": { "storeName": settings.state_store },
            "jobs": { "crons": [] },
        }));
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut text = serde_json::to_string_pretty(&json!({ "services": entries }))
        .expect("JSON values serialize");
    text.push('\n');
    Ok(text)
}

fn metadata(contract: &Contract, name: &str) -> Value {
    let mut labels = contract.labels.clone();
    if labels.contains_key("app.kubernetes.io/component") {
        labels.insert("app.kubernetes.io/component".into(), json!("services-json"));
    }
    let mut metadata = json!({ "name": name });
    if let Some(namespace) = &contract.namespace {
        metadata["namespace"] = json!(namespace);
    }
    if !labels.is_empty() {
        metadata["labels"] = Value::Object(labels);
    }
    metadata
}

/// Mounts the file into the gateway container and stamps the checksum on its pod template.
fn mount(
    stream: &mut Stream,
    contract: &Contract,
    gateway: &App,
    settings: &ServicesJson,
    checksum: &str,
    log: &mut Vec<Applied>,
) -> Result<()> {
    let index = workload_of(stream, contract, gateway)?;
    let path = gateway
        .services_json_path
        .as_deref()
        .expect("checked when read");
    let doc = &mut stream.documents_mut()[index];
    let (pod, container) = container_of(doc, contract, gateway)?;
    let has_volume = list(Some(pod.spec), "volumes").any(|v| v["name"] == VOLUME);
    let has_mount = list(Some(container.value), "volumeMounts").any(|m| m["name"] == VOLUME);
    let current = pod.annotation(CHECKSUM).and_then(Value::as_str);
    if has_volume && has_mount && current == Some(checksum) {
        return Ok(());
    }
    let position = container.position;
    let at = doc.at();
    {
        let mut value = doc.value_mut().expect("parsed");
        let mut pod = PodTemplateMut::of(&gateway.workload.kind, &mut value).expect("found above");
        let refused = |message| Error::Document {
            at: at.clone(),
            message,
        };
        pod.annotations()
            .map_err(refused)?
            .insert(CHECKSUM.into(), json!(checksum));
        if !has_volume {
            pod.spec_list("volumes").map_err(refused)?.push(json!({
                "name": VOLUME,
                "configMap": {
                    "name": settings.config_map,
                    "items": [{ "key": settings.key, "path": settings.key }],
                },
            }));
        }
        if !has_mount {
            pod.container_list(position, "volumeMounts")
                .map_err(refused)?
                .push(json!({
                    "name": VOLUME,
                    "mountPath": path,
                    "subPath": settings.key,
                    "readOnly": true,
                }));
        }
    }
    log.push(Applied {
        pass: PASS.into(),
        object: object_name(doc),
        source: doc.source.clone(),
        change: format!("mounted at {path}, checksum on the pod template"),
    });
    Ok(())
}

fn list<'a>(parent: Option<&'a Value>, key: &str) -> impl Iterator<Item = &'a Value> {
    parent
        .and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}
