//! Policy files (`policies:` in the configuration): Kubernetes objects in YAML, read as the
//! cluster reads them when they are applied (vf-post's Go-faithful reader, the same as for
//! charts), within size bounds, with an optional SHA-256 pin per file; and Rego files
//! (`*.rego`, conftest's policies) as text. A directory brings its `*.yaml`, `*.yml`, `*.json`
//! and `*.rego` files in name order.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest policy file read, and the most all of a configuration's together: policy
/// files are small, and these bound what a hostile one costs.
pub const MAX_FILE: u64 = 4 << 20;
const MAX_TOTAL: u64 = 16 << 20;
/// The most files a directory may bring.
const MAX_FILES: usize = 1000;

/// The policy files of one configuration scope, read once for every runtime.
pub struct Scope<'a> {
    /// The team; `None` for the policies of every object.
    pub team: Option<String>,
    /// Each entry with what its files hold.
    pub entries: Vec<(&'a vf_plugin::config::PolicyRef, Read)>,
}

/// The policy files of each configuration scope: every object's, then each team's, within
/// the bounds of all files together; `base` is the configuration's directory.
pub fn read_scopes<'a>(config: &'a vf_plugin::Config, base: &Path) -> Result<Vec<Scope<'a>>> {
    let scopes = std::iter::once((None, &config.policies)).chain(
        config
            .teams
            .iter()
            .map(|t| (Some(t.name.clone()), &t.policies)),
    );
    let mut bytes = 0u64;
    let mut out = Vec::new();
    for (team, entries) in scopes {
        let mut read_entries = Vec::with_capacity(entries.len());
        for entry in entries {
            read_entries.push((entry, read(entry, base, &mut bytes)?));
        }
        out.push(Scope {
            team,
            entries: read_entries,
        });
    }
    Ok(out)
}

/// What the files of one configuration entry hold.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Kubernetes objects: admission policies, Gatekeeper templates and constraints, params.
    pub objects: Vec<Source>,
    /// Rego files.
    pub rego: Vec<RegoFile>,
}

/// One Rego file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegoFile {
    /// The file, as the configuration names it (for messages).
    pub file: String,
    pub text: String,
}

/// Whether an object belongs to Gatekeeper (a ConstraintTemplate or a constraint), for the
/// Rego runtime rather than the CEL one.
pub fn is_gatekeeper(object: &Value) -> bool {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|api| {
            api.starts_with("templates.gatekeeper.sh/")
                || api.starts_with("constraints.gatekeeper.sh/")
        })
}

/// One object of a policy file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Source {
    /// The file, as the configuration names it (for messages).
    pub file: String,
    pub object: Value,
}

/// Reads the policy files a configuration entry names; `base` is the configuration's
/// directory, `read` what earlier entries read (bytes).
pub fn read(entry: &vf_plugin::config::PolicyRef, base: &Path, read: &mut u64) -> Result<Read> {
    let path = base.join(&entry.path);
    let meta = std::fs::metadata(&path)
        .map_err(|e| anyhow!("policy files {}: cannot read: {e}", path.display()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        if entry.sha256.is_some() {
            bail!(
                "policy files {}: a sha256 pin is for a file, not a directory",
                path.display()
            );
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| anyhow!("policy files {}: cannot list: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json" || x == "rego")
            })
            .collect();
        if files.len() > MAX_FILES {
            bail!(
                "policy files {}: more than {MAX_FILES} files",
                path.display()
            );
        }
        files.sort();
        files
    } else {
        vec![path.clone()]
    };
    let mut sources = Read::default();
    for file in files {
        let shown = file
            .strip_prefix(".")
            .unwrap_or(&file)
            .display()
            .to_string();
        let meta = std::fs::metadata(&file)
            .map_err(|e| anyhow!("policy file {shown}: cannot read: {e}"))?;
        // A device or a pipe (through a symbolic link in a directory, say) would read forever
        // or block: only regular files are policy files.
        if !meta.is_file() {
            bail!("policy file {shown} is not a regular file");
        }
        let bytes = read_at_most(&file, MAX_FILE)
            .map_err(|e| anyhow!("policy file {shown}: {e}"))?
            .ok_or_else(|| {
                anyhow!(
                    "policy file {shown} is more than the {} KiB allowed",
                    MAX_FILE >> 10
                )
            })?;
        *read += bytes.len() as u64;
        if *read > MAX_TOTAL {
            bail!(
                "policy files: more than {} MiB together (at {shown})",
                MAX_TOTAL >> 20
            );
        }
        if let Some(pin) = &entry.sha256 {
            let sha256 = format!("{:x}", Sha256::digest(&bytes));
            if !pin.eq_ignore_ascii_case(&sha256) {
                bail!(
                    "policy file {shown} has sha256 {sha256}, but the configuration pins {pin}; refusing it"
                );
            }
        }
        if file.extension().is_some_and(|x| x == "rego") {
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow!("policy file {shown} is not UTF-8"))?;
            sources.rego.push(RegoFile { file: shown, text });
        } else {
            sources.objects.extend(objects(&shown, bytes)?);
        }
    }
    Ok(sources)
}

/// A policy or test file's bytes: a regular file (a device or a pipe would read forever) of at
/// most [`MAX_FILE`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| anyhow!("{shown}: cannot read: {e}"))?;
    if !meta.is_file() {
        bail!("{shown} is not a regular file");
    }
    read_at_most(path, MAX_FILE)
        .map_err(|e| anyhow!("{shown}: {e}"))?
        .ok_or_else(|| anyhow!("{shown} is more than the {} KiB allowed", MAX_FILE >> 10))
}

/// The file's bytes, or `None` if it holds more than `limit` (the size its metadata claims is
/// not trusted: a file can grow while it is read).
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// The objects of one file, `List` items each on their own.
fn objects(file: &str, bytes: Vec<u8>) -> Result<Vec<Source>> {
    let stream = vf_plugin::Stream::read_all(bytes).map_err(|e| {
        anyhow!(
            "policy file {file}: {}",
            crate::report::text::clean(&e.to_string())
        )
    })?;
    let mut out = Vec::new();
    for doc in stream.documents() {
        let Some(value) = doc.value() else { continue };
        let items = match value.get("items").and_then(Value::as_array) {
            Some(items) => items.clone(),
            None => vec![value.clone()],
        };
        for object in items {
            if !object.is_object() {
                bail!(
                    "policy file {file}: document {} is not a Kubernetes object",
                    doc.position
                );
            }
            out.push(Source {
                file: file.to_owned(),
                object,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_pipes_and_oversized_files_are_refused_unread() {
        let dir = std::env::temp_dir().join(format!("vf-post-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
        let entry = |path: &str| vf_plugin::config::PolicyRef {
            path: path.into(),
            ..Default::default()
        };
        let err = read(&entry("zero.yaml"), &dir, &mut 0).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::write(dir.join("big.yaml"), vec![b'#'; (MAX_FILE + 1) as usize]).unwrap();
        let err = read(&entry("big.yaml"), &dir, &mut 0).unwrap_err();
        assert!(err.to_string().contains("more than the 4096 KiB"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lists_are_flattened_and_odd_yaml_is_refused_as_for_charts() {
        let list = b"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let items = objects("p.yaml", list.to_vec()).unwrap();
        assert_eq!(items.len(), 2);
        let hidden = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: 1 # note\u{2028}  y: 2\n";
        let err = objects("p.yaml", hidden.as_bytes().to_vec()).unwrap_err();
        assert!(err.to_string().contains("p.yaml"), "{err}");
    }
}
