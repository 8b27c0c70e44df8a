//! The modes: render (the Helm contract), lint, rules, policy inspect.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::Outcome;
use crate::cli::{Cli, Command, Lint, Options};
use crate::{output, settings};

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        None => render(&cli.options),
        Some(Command::Lint(lint)) => lint_files(&lint),
        Some(Command::Rules(_)) => anyhow::bail!("no built-in rules yet"),
        Some(Command::Policy(_)) => anyhow::bail!("policy modules are not supported yet"),
    }
}

/// stdin → engine → stdout: what Helm runs.
fn render(options: &Options) -> Result<Outcome> {
    let config = settings::load(options.shared.config.as_deref())?;
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read stdin")?;
    let rendered = vf_plugin::render(input, &config)?;
    output::write_stdout(&rendered.output).context("cannot write stdout")?;
    Ok(Outcome::Clean)
}

/// Files → engine → findings; the rendered manifests are dropped.
fn lint_files(lint: &Lint) -> Result<Outcome> {
    let config = settings::load(lint.options.shared.config.as_deref())?;
    let files = if lint.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        lint.files.clone()
    };
    for file in &files {
        let input = read_input(file)?;
        vf_plugin::render(input, &config).with_context(|| format!("{}", file.display()))?;
    }
    Ok(Outcome::Clean)
}

fn read_input(file: &PathBuf) -> Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .context("cannot read stdin")?;
        Ok(input)
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
    }
}
