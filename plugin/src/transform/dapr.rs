//! Dapr sidecar annotations on the pod template of each Dapr app (never on the workload's
//! own metadata, where the injector does not look): those the contract's settings call for,
//! then the contract's extra annotations (every app's, then the app's own). Values are
//! strings; keys the chart set on the pod template are kept; a chart that set
//! `dapr.io/enabled` to anything but "true" gets no sidecar.

use serde_json::Value;

use super::{Applied, object_name, workload_of};
use crate::contract::{App, Contract};
use crate::dapr::{self as keys, ENABLED};
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::workload::{PodTemplate, PodTemplateMut};

/// Name of the pass in reports.
pub const PASS: &str = "dapr";

pub fn apply(stream: &mut Stream, contract: &Contract, log: &mut Vec<Applied>) -> Result<()> {
    for app in contract.apps.iter().filter(|a| a.dapr.enabled) {
        let index = workload_of(stream, contract, app)?;
        let doc = &mut stream.documents_mut()[index];
        let existing = doc
            .value()
            .and_then(|value| PodTemplate::of(doc.kind(), value))
            .and_then(|pod| pod.annotations());
        if existing
            .and_then(|a| a.get(ENABLED))
            .is_some_and(|v| v.as_str() != Some("true"))
        {
            continue; // The chart turned the sidecar off for this workload.
        }
        let missing: Vec<(String, String)> = annotations(contract, app)
            .into_iter()
            .filter(|(key, _)| existing.is_none_or(|a| !a.contains_key(key)))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let count = missing.len();
        let at = doc.at();
        {
            let mut value = doc.value_mut().expect("parsed");
            let mut pod = PodTemplateMut::of(&app.workload.kind, &mut value)
                .expect("contract workloads have pods");
            let annotations = pod
                .annotations()
                .map_err(|message| Error::Document { at, message })?;
            for (key, text) in missing {
                annotations.insert(key, Value::String(text));
            }
        }
        log.push(Applied {
            pass: PASS.into(),
            object: object_name(doc),
            source: doc.source.clone(),
            change: format!("{count} dapr.io annotations (app-id {})", app.dapr.app_id),
        });
    }
    Ok(())
}

/// The annotations an app's pod template should carry, all as strings.
fn annotations(contract: &Contract, app: &App) -> Vec<(String, String)> {
    let dapr = &contract.dapr;
    let mut out = vec![
        (ENABLED, "true".to_owned()),
        (keys::APP_ID, app.dapr.app_id.clone()),
        (keys::APP_PORT, app.ports.http.to_string()),
        // HTTP, so the app health check works (the .NET SDK lacks the gRPC health callback).
        (keys::APP_PROTOCOL, "http".to_owned()),
        (keys::ENABLE_APP_HEALTH_CHECK, "true".to_owned()),
        (keys::APP_HEALTH_CHECK_PATH, app.health.dapr.clone()),
    ];
    if let Some(config) = &dapr.config {
        out.push((keys::CONFIG, config.clone()));
    }
    if let Some(level) = &dapr.log_level {
        out.push((keys::LOG_LEVEL, level.clone()));
    }
    if let Some(on) = dapr.enable_api_logging {
        out.push((keys::ENABLE_API_LOGGING, on.to_string()));
    }
    if let Some(metrics) = &dapr.metrics {
        out.push((keys::ENABLE_METRICS, metrics.enabled.to_string()));
        if let Some(port) = metrics.port {
            out.push((keys::METRICS_PORT, port.to_string()));
        }
    }
    if let Some(health) = &dapr.app_health {
        out.push((
            keys::PROBE_INTERVAL,
            health.probe_interval_seconds.to_string(),
        ));
        out.push((
            keys::PROBE_TIMEOUT,
            health.probe_timeout_milliseconds.to_string(),
        ));
        out.push((keys::HEALTH_THRESHOLD, health.threshold.to_string()));
    }
    if let Some(resources) = &dapr.sidecar_resources {
        for (key, quantity) in [
            (keys::SIDECAR_CPU_REQUEST, &resources.cpu_request),
            (keys::SIDECAR_MEMORY_REQUEST, &resources.memory_request),
            (keys::SIDECAR_CPU_LIMIT, &resources.cpu_limit),
            (keys::SIDECAR_MEMORY_LIMIT, &resources.memory_limit),
        ] {
            if let Some(q) = quantity {
                out.push((key, q.to_string()));
            }
        }
    }
    let mut out: Vec<(String, String)> = out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // The chart's extra annotations, every app's then this app's: the later one wins.
    for (key, text) in dapr.annotations.iter().chain(&app.dapr.annotations) {
        out.retain(|(k, _)| k != key);
        out.push((key.clone(), text.clone()));
    }
    out
}
