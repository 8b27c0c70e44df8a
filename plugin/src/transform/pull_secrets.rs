//! imagePullSecrets on every pod spec that pulls from the private registry: app containers,
//! init and ephemeral containers, Jobs, CronJobs and hooks alike; never a duplicate.

use serde_json::{Value, json};

use super::{Applied, object_name};
use crate::contract::Contract;
use crate::dapr::SIDECAR_IMAGE;
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::workload::{CONTAINER_LISTS, PodTemplate, PodTemplateMut, image_registry};

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
        let Some(pod) = doc.value().and_then(|v| PodTemplate::of(doc.kind(), v)) else {
            continue;
        };
        // The daprd image a pod names (`dapr.io/sidecar-image`) is pulled with the pod's
        // secrets too, once the injector has added its container.
        let sidecar = pod.annotation(SIDECAR_IMAGE).and_then(Value::as_str);
        let pulls = pod
            .containers(&CONTAINER_LISTS)
            .filter_map(|c| c.image())
            .chain(sidecar)
            .any(|image| image_registry(image) == registry.host);
        if !pulls {
            continue;
        }
        let present = pod.pull_secret_names();
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
        let kind = doc.kind().to_owned();
        {
            let mut value = doc.value_mut().expect("parsed");
            let mut pod = PodTemplateMut::of(&kind, &mut value).expect("found above");
            let list = pod
                .spec_list("imagePullSecrets")
                .map_err(|message| Error::Document { at, message })?;
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
