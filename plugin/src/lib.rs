//! The vf-post engine: Helm's rendered stream in, post-rendered stream and findings out.
//!
//! Pure: no I/O, no clock, no environment, so it runs the same natively and as a wasm32
//! component. The data flow is the module list: [`stream`] reads bytes into [`Document`]s,
//! [`transform`] changes them, and [`stream::Stream::write`] turns them back into bytes.
#![warn(missing_docs)]

pub mod config;
pub mod contract;
pub mod dapr;
pub mod document;
pub mod error;
mod parallel;
pub mod stream;
pub mod transform;
pub mod workload;

pub use config::Config;
pub use document::Document;
pub use error::{Error, Result};
pub use stream::{Form, Scanned, Stream};

/// What one render produced.
#[derive(Debug)]
pub struct Rendered {
    /// The post-rendered stream.
    pub output: Vec<u8>,
    /// What the passes changed.
    pub applied: Vec<transform::Applied>,
}

/// Reads `input`, applies the configured passes and writes the result.
pub fn render(input: Vec<u8>, config: &Config) -> Result<Rendered> {
    let mut stream = read(input, config)?;
    let applied = transform::apply(&mut stream, config)?;
    Ok(Rendered {
        output: stream.write(),
        applied,
    })
}

/// Reads `input`, parsing the documents the configured passes need.
pub fn read(input: Vec<u8>, config: &Config) -> Result<Stream> {
    let scanned = Scanned::read(input)?;
    let has_contract = scanned.metas().iter().any(contract::is_contract);
    scanned.parse(|meta| transform::wants(meta, has_contract, config))
}
