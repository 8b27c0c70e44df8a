//! The vf-post engine: Helm's rendered stream in, post-rendered stream and findings out.
//!
//! Pure: no I/O, no clock, no environment, so it runs the same natively and as a wasm32
//! component. The data flow is the module list: [`stream`] reads bytes into [`Document`]s,
//! [`transform`] changes them, and [`stream::Stream::write`] turns them back into bytes.
#![warn(missing_docs)]

pub mod config;
pub mod document;
pub mod error;
mod parallel;
pub mod stream;
pub mod transform;

pub use config::Config;
pub use document::Document;
pub use error::{Error, Result};
pub use stream::{Form, Scanned, Stream};

/// What one render produced.
#[derive(Debug)]
pub struct Rendered {
    /// The post-rendered stream.
    pub output: Vec<u8>,
}

/// Reads `input`, applies the configured passes and writes the result.
pub fn render(input: Vec<u8>, config: &Config) -> Result<Rendered> {
    let mut stream = read(input, config)?;
    transform::apply(&mut stream, config);
    Ok(Rendered {
        output: stream.write(),
    })
}

/// Reads `input`, parsing the documents the configured passes need.
pub fn read(input: Vec<u8>, config: &Config) -> Result<Stream> {
    Scanned::read(input)?.parse(|meta| transform::wants(meta, config))
}
