//! Images: pinned tags, allowed registries, pull secrets for the private registry.

use serde_json::Value;

use super::{Context, Hit, catalog};
use crate::dapr::SIDECAR_IMAGE;
use crate::workload::{CONTAINER_LISTS, image_registry};

pub(super) fn check(ctx: &Context, hits: &mut Vec<Hit>) {
    let private = ctx.contract.and_then(|c| c.registry.as_ref());
    for pod in ctx.pods() {
        let allowed = allowed_registries(ctx, pod.doc);
        let mut pulls_private = false;
        // Each image the pod runs, where it is written, and its container: the containers',
        // and daprd's when the pod names it (the injector adds that container at admission).
        let mut images: Vec<(&str, String, &str)> = pod
            .template
            .containers(&CONTAINER_LISTS)
            .filter_map(|c| Some((c.image()?, format!("{}/image", c.pointer()), c.name)))
            .collect();
        if let Some(image) = pod
            .template
            .annotation(SIDECAR_IMAGE)
            .and_then(Value::as_str)
        {
            images.push((
                image,
                pod.template.annotation_pointer(SIDECAR_IMAGE),
                "daprd",
            ));
        }
        for (image, at, container) in images {
            if let Some(problem) = unpinned(image) {
                hits.push(
                    Hit::new(
                        catalog::IMAGE_TAG_PINNED.id,
                        pod.index,
                        format!("image {image:?} {problem}"),
                    )
                    .at(at.clone())
                    .container(container),
                );
            }
            if !allowed.is_empty() && !allowed.iter().any(|prefix| is_under(image, prefix)) {
                hits.push(
                    Hit::new(
                        catalog::IMAGE_REGISTRY_ALLOWED.id,
                        pod.index,
                        format!(
                            "image {image:?} comes from {}, which is not allowed",
                            image_registry(image)
                        ),
                    )
                    .at(at)
                    .container(container),
                );
            }
            pulls_private |= private.is_some_and(|r| image_registry(image) == r.host);
        }
        if let Some(registry) = private.filter(|_| pulls_private) {
            let listed = pod.template.pull_secret_names();
            if !registry
                .pull_secrets
                .iter()
                .any(|s| listed.contains(&s.as_str()))
            {
                hits.push(
                    Hit::new(
                        catalog::IMAGE_PULL_SECRET.id,
                        pod.index,
                        format!(
                            "pulls from {} without its pull secret {}",
                            registry.host,
                            registry.pull_secrets.join(", ")
                        ),
                    )
                    .at(pod.template.spec_pointer("imagePullSecrets")),
                );
            }
        }
    }
}

/// Global and team registries, and the chart's own: what images may come from.
fn allowed_registries(ctx: &Context, doc: &crate::Document) -> Vec<String> {
    let mut allowed = ctx.config.registries.allowed.clone();
    if let Some(team) = ctx.team(doc) {
        allowed.extend(team.registries.allowed.iter().cloned());
    }
    if let Some(registry) = ctx.contract.and_then(|c| c.registry.as_ref()) {
        allowed.push(registry.host.clone());
    }
    allowed
}

/// Why an image reference is not pinned, if it is not.
fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains('@') {
        return None; // A digest pins the content.
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag, which means latest"),
        Some((_, "latest")) => Some("uses the tag latest"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

/// Whether `image` lives under `prefix` (a registry host or a repository path), as the
/// container runtime resolves short names (`nginx` is `docker.io/library/nginx`).
fn is_under(image: &str, prefix: &str) -> bool {
    let full = if image_registry(image) == "docker.io" && !image.starts_with("docker.io/") {
        if image.contains('/') {
            format!("docker.io/{image}")
        } else {
            format!("docker.io/library/{image}")
        }
    } else {
        image.to_owned()
    };
    full.starts_with(&format!("{}/", prefix.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::{is_under, unpinned};

    #[test]
    fn pinned_images() {
        assert!(unpinned("nginx:1.27").is_none());
        assert!(unpinned("repo/app@sha256:abc").is_none());
        assert!(unpinned("localhost:5000/app:1").is_none());
        assert!(unpinned("localhost:5000/app").is_some());
        assert!(unpinned("nginx").is_some());
        assert!(unpinned("nginx:latest").is_some());
    }

    #[test]
    fn registry_prefixes() {
        assert!(is_under(
            "harbor.virtufin.io/virtufin/api:1",
            "harbor.virtufin.io"
        ));
        assert!(!is_under(
            "harbor.virtufin.io.evil.com/x:1",
            "harbor.virtufin.io"
        ));
        assert!(is_under("nginx:1.27", "docker.io/library"));
        assert!(is_under("curlimages/curl:8", "docker.io/curlimages/"));
        assert!(!is_under("curlimages/curl:8", "docker.io/library"));
    }
}
