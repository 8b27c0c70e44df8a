//! `vf-post policy componentize`: a core module built by wit-bindgen (which carries its
//! component type in a custom section) becomes a component, as `wasm-tools component new` does.

use std::path::Path;

use anyhow::{Context as _, Result};

pub fn componentize(input: &Path, output: &Path) -> Result<()> {
    let module =
        std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .context("not a core module with an embedded component type (build it with wit-bindgen)")?
        .validate(true)
        .encode()
        .context("cannot make a component of it")?;
    crate::output::write_file(output, &component)
        .with_context(|| format!("cannot write {}", output.display()))
}
