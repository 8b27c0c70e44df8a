//! imagePullSecrets on every pod spec that pulls from the private registry: app containers,
//! init and ephemeral containers, Jobs, CronJobs and hooks alike; never a duplicate.

use serde_json::{Value, json};

use super::{Applied, object_name};
use crate::contract::Contract;
use crate::dapr::SIDECAR_IMAGE;
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::workload::{
    containers, image_registry, pod_metadata_pointer, pod_spec_pointer, pull_secret_names,
};

/// Name of the pass in reports.
pub const PASS: &str = "pull-secrets";

pub fn apply(
    stream: &mut Stream,
    contract: Option<&Contract>,
    log: &mut Vec<Applied>,
) -> Result<()> {
    let Some(registry) = contract.and_then(|c| c.registry.as_ref()) else {
        return Ok(());
    };
    for doc in stream.documents_mut() {
        let Some(pointer) = pod_spec_pointer(doc.kind()) else {
            continue;
        };
        let Some(spec) = doc.value().and_then(|v| v.pointer(pointer)) else {
            continue;
        };
        // The daprd image a pod names (`dapr.io/sidecar-image`) is pulled with the pod's
        // secrets too, once the injector has added its container.
        let sidecar = pod_metadata_pointer(doc.kind())
            .and_then(|p| {
                doc.value()?
                    .pointer(p)?
                    .get("annotations")?
                    .get(SIDECAR_IMAGE)
            })
            .and_then(Value::as_str);
        let pulls = containers(spec)
            .filter_map(|(_, c)| c.get("image").and_then(Value::as_str))
            .chain(sidecar)
            .any(|image| image_registry(image) == registry.host);
        if !pulls {
            continue;
        }
        let present = pull_secret_names(spec);
        let missing: Vec<String> = registry
            .pull_secrets
            .iter()
            .filter(|s| !present.contains(&s.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            continue;
        }
        let at = doc.at();
        {
            let mut value = doc.value_mut().expect("parsed");
            let spec = value
                .pointer_mut(pointer)
                .and_then(Value::as_object_mut)
                .expect("found above");
            let list = spec.entry("imagePullSecrets").or_insert(Value::Null);
            if list.is_null() {
                *list = json!([]);
            }
            let what = crate::document::kind(list);
            let list = list.as_array_mut().ok_or_else(|| Error::Document {
                at,
                message: format!(
                    "{pointer}/imagePullSecrets is {what}, not a list; Kubernetes cannot read it"
                ),
            })?;
            for name in &missing {
                list.push(json!({ "name": name }));
            }
        }
        log.push(Applied {
            pass: PASS.into(),
            object: object_name(doc),
            source: doc.source.clone(),
            change: format!("imagePullSecrets {}", missing.join(", ")),
        });
    }
    Ok(())
}
