//! Runs the engine: natively, or as a WebAssembly component in the sandbox.

use anyhow::Result;
use vf_plugin::Config;

use crate::cli::Engine;

/// The engine's result, with the number of objects for the report.
pub struct Rendered {
    pub output: Vec<u8>,
    pub objects: usize,
    pub applied: Vec<vf_plugin::transform::Applied>,
    pub findings: Vec<vf_plugin::Finding>,
}

pub fn render(input: Vec<u8>, config: &Config, engine: Engine) -> Result<Rendered> {
    match engine {
        Engine::Native => {
            let release = vf_plugin::prepare(input, config, false)?;
            Ok(Rendered {
                objects: release
                    .stream
                    .documents()
                    .iter()
                    .filter(|d| !d.is_removed())
                    .count(),
                output: release.stream.into_output(),
                applied: release.applied,
                findings: release.findings,
            })
        }
        Engine::Wasm => anyhow::bail!("--engine wasm is not available yet"),
    }
}
