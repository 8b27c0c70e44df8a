//! Liveness, readiness and (when configured) startup probes on each app's container, where
//! the chart set none: httpGet on the HTTP port and the app's health paths. Only on
//! long-running workloads: never on Jobs, CronJobs, hooks or test pods.

use serde_json::{Map, Value, json};

use super::{Applied, container_of, object_name, workload_of};
use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::workload::{PodTemplateMut, is_long_running};

/// Name of the pass in reports.
pub const PASS: &str = "probes";

pub fn apply(stream: &mut Stream, contract: &Contract, log: &mut Vec<Applied>) -> Result<()> {
    for app in &contract.apps {
        let index = workload_of(stream, contract, app)?;
        let doc = &mut stream.documents_mut()[index];
        if !is_long_running(doc.kind()) || doc.is_hook() {
            continue;
        }
        let (_, container) = container_of(doc, contract, app)?;
        let position = container.position;
        let container = container.value;
        let port = http_port(container, app.ports.http);
        let wanted = [
            ("livenessProbe", &app.health.liveness, &app.probes.liveness),
            (
                "readinessProbe",
                &app.health.readiness,
                &app.probes.readiness,
            ),
            ("startupProbe", &app.health.liveness, &app.probes.startup),
        ];
        let missing: Vec<(&str, Value)> = wanted
            .into_iter()
            .filter(|(key, _, timings)| timings.is_some() && container.get(*key).is_none())
            .map(|(key, path, timings)| {
                (key, probe(path, &port, timings.as_ref().expect("filtered")))
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let names: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
        let at = doc.at();
        {
            let mut value = doc.value_mut().expect("parsed");
            let mut pod = PodTemplateMut::of(&app.workload.kind, &mut value).expect("found above");
            let container = pod
                .container(position)
                .map_err(|message| Error::Document { at, message })?;
            for (key, probe) in missing {
                container.insert(key.to_owned(), probe);
            }
        }
        log.push(Applied {
            pass: PASS.into(),
            object: object_name(doc),
            source: doc.source.clone(),
            change: format!("{} on container {}", names.join(", "), app.container),
        });
    }
    Ok(())
}

/// The container's name for the HTTP port when it declares one, else the number.
fn http_port(container: &Value, http: u16) -> Value {
    container
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p["containerPort"] == http)
        .and_then(|p| p.get("name"))
        .cloned()
        .unwrap_or_else(|| json!(http))
}

fn probe(path: &str, port: &Value, timings: &Map<String, Value>) -> Value {
    let mut probe = Map::new();
    probe.insert(
        "httpGet".into(),
        json!({"path": path, "port": port, "scheme": "HTTP"}),
    );
    probe.extend(timings.clone());
    Value::Object(probe)
}
