//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit status:
  0  rendered, or lint clean (warnings allowed); also on a broken output pipe
  1  denied: at least one error-level finding (never with --audit)
  2  usage, input, configuration or policy-module failure; nothing is written to stdout

As a Helm post-renderer:
  Helm 3:  helm install virtufin ./chart --post-renderer vf-post    (vf-post on PATH)
  Helm 4:  helm plugin install ./plugin && helm install virtufin ./chart --post-renderer vf-post
  Helm 4 never shows a post-renderer's stderr. When a release is denied, vf-post also writes
  the findings to the terminal (/dev/tty) and to the report file (--report, else
  $VF_POST_REPORT, else $XDG_STATE_HOME/vf-post/last-report.txt under Helm 4).";

/// Helm post-renderer for the Virtufin platform: injects Dapr sidecar annotations, probes,
/// image pull secrets and the gateway's services.json, then enforces policy. A violation
/// stops the release: nothing reaches the cluster.
///
/// Without a subcommand, vf-post post-renders: it reads the manifests Helm rendered on stdin
/// and writes the post-rendered manifests to stdout, with findings on stderr.
#[derive(Debug, Parser)]
#[command(name = "vf-post", version, after_long_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reads chart output (`helm template` or a manifest file) and reports findings, applying
    /// the same transforms and rules as a render. Writes no manifests.
    Lint(Lint),
    /// Lists the built-in rules with their ids, default severities, what they check and how
    /// to fix a finding (`--format markdown` writes docs/rules.md).
    Rules(Rules),
    /// Works with per-team WebAssembly policy modules.
    #[command(subcommand)]
    Policy(Policy),
    /// Runs policy tests: vf-post's PolicyTest (vf-post.virtufin.io/v1alpha1: input manifests,
    /// a configuration, expected findings and output; docs/testing.md) and gator's Suite
    /// (test.gatekeeper.sh/v1alpha1, so Gatekeeper library suites run unmodified). Exit 0 only
    /// if every case passes, 1 if one fails.
    Test(TestSuites),
}

#[derive(Debug, Args)]
pub struct TestSuites {
    /// Suite files, or directories searched for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Result format.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// Configuration whose `sandbox:` bounds apply to gator suites (a PolicyTest names its own).
    #[arg(long, value_name = "FILE", env = "VF_POST_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// A line per case that did not pass, and the counts.
    #[default]
    Text,
    /// JUnit XML: a test suite per suite file, a test case per case.
    Junit,
}

#[derive(Debug, Args)]
pub struct Lint {
    /// Files to lint; `-` or none reads stdin.
    #[arg(value_name = "FILE|-")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Args)]
pub struct Rules {
    /// Listing format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
    pub format: RulesFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// One line per rule: id, severity, what it checks.
    #[default]
    Text,
    /// An array of `{id, severity, summary, hint}`.
    Json,
    /// A Markdown table, as docs/rules.md has it.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Policy {
    /// Turns a core WebAssembly module built with wit-bindgen into a component, as
    /// `wasm-tools component new` does.
    Componentize {
        /// The core module (`cargo build --target wasm32-unknown-unknown` output).
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Shows a module's WIT package and version, its exports, and whether it loads under the
    /// sandbox rules (no imports, the vf:policy world).
    Inspect {
        /// The module (a WebAssembly component).
        module: PathBuf,
        #[command(flatten)]
        shared: Shared,
    },
}

/// Options every mode takes.
#[derive(Debug, Args, Clone, Default)]
pub struct Shared {
    /// Configuration file (YAML): rules, severities, registries, teams and policy modules.
    /// Unknown keys are errors.
    #[arg(long, value_name = "FILE", env = "VF_POST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Report format, for stderr and --report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Options of rendering and linting.
#[derive(Debug, Args, Clone, Default)]
pub struct Options {
    #[command(flatten)]
    pub shared: Shared,
    /// Also write the report, in --format, to FILE.
    #[arg(long, value_name = "FILE", env = "VF_POST_REPORT")]
    pub report: Option<PathBuf>,
    /// Report findings but never fail on them ("monitor mode"); errors still exit 2.
    #[arg(long)]
    pub audit: bool,
    /// Where the engine runs: natively, or as a WebAssembly component inside the sandbox.
    #[arg(long, value_enum, default_value_t = EngineChoice::Native)]
    pub engine: EngineChoice,
    /// Color in text reports.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print nothing on stderr unless a release is denied or fails.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also report what vf-post changed in each object, per pass or policy module, as RFC 6902
    /// JSON Patches: `changes` in JSON, a short list in text.
    #[arg(long)]
    pub show_changes: bool,
    /// The chart's directory in the repository (e.g. `chart`): SARIF locations then name
    /// repository files, with the line of each object's `kind:`.
    #[arg(long, value_name = "DIR")]
    pub chart_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: grouped by object, with hints.
    #[default]
    Text,
    /// Stable schema, see docs/report-schema.md.
    Json,
    /// SARIF 2.1.0, locations on the chart's templates (GitHub code scanning).
    Sarif,
    /// GitLab Code Quality, locations on the chart's templates (merge request widget).
    Gitlab,
    /// JUnit XML: a test suite per input, a test case per object and rule with findings.
    Junit,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// Compiled into vf-post.
    #[default]
    Native,
    /// The same engine compiled to wasm32, run in the wasmtime sandbox.
    Wasm,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when the report goes to a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    Always,
    Never,
}
