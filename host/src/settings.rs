//! The configuration file: read strictly, so a typo is an error that names its line.

use std::path::Path;

use anyhow::{Context as _, Result};
use vf_plugin::Config;

/// Reads `--config FILE`, or the defaults when none is given.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    parse(&text).with_context(|| format!("config {}", path.display()))
}

/// Parses configuration text (YAML; JSON is YAML too).
pub fn parse(text: &str) -> Result<Config> {
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
    };
    let config: Config = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let full = e.to_string();
        anyhow::anyhow!(
            full.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        )
    })?;
    // An exemption is a chart author's, per object and with a reason; a rule the platform
    // wants off everywhere is turned off under `rules:`, where the report says so.
    if let Some(key) = config
        .transforms
        .common_annotations
        .keys()
        .find(|k| k.starts_with(vf_plugin::rules::EXEMPT_PREFIX))
    {
        anyhow::bail!(
            "transforms.commonAnnotations: `{key}` would exempt every object; turn the rule off under `rules:` instead"
        );
    }
    crate::exceptions::check_format(&config)?;
    Ok(config)
}

/// The directory module paths in the configuration are relative to.
pub fn base(path: Option<&Path>) -> std::path::PathBuf {
    path.and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf)
}
