//! The modes: render (the Helm contract), lint, rules, policy inspect.

use std::io::{IsTerminal as _, Read as _};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::Outcome;
use crate::cli::{Cli, ColorChoice, Command, Format, Lint, Options, Policy, RulesFormat};
use crate::engine::{self, OpenRelease};
use crate::policy::load::PolicyModule;
use crate::report::{Report, Section};
use crate::timings::phase;
use crate::{exceptions, output, settings};

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        None => render(&cli.options),
        Some(Command::Lint(lint)) => lint_files(&lint),
        Some(Command::Rules(rules)) => list_rules(rules.format),
        Some(Command::Test(suites)) => test_suites(&suites),
        Some(Command::Policy(Policy::Inspect { module, shared })) => {
            let config = settings::load(shared.config.as_deref())?;
            let inspection =
                crate::policy::inspect::inspect(&module, crate::policy::bounds(&config.sandbox))?;
            output::write_stdout(inspection.text.as_bytes()).context("cannot write stdout")?;
            match inspection.refusal {
                Some(why) => Err(why),
                None => Ok(Outcome::Clean),
            }
        }
        Some(Command::Policy(Policy::Componentize { module, output })) => {
            crate::policy::componentize::componentize(&module, &output)?;
            Ok(Outcome::Clean)
        }
    }
}

/// stdin → engine → policy modules → stdout: what Helm runs. A denied release writes
/// nothing to stdout.
fn render(options: &Options) -> Result<Outcome> {
    let (config, modules) = phase("configuration and policy modules", || configure(options))?;
    let input = phase("read stdin", || read_input(Path::new("-")))?;
    let (section, release) = process(input, None, &config, &modules, options)?;
    let mut report = Report {
        sections: vec![section],
        audit: options.audit,
        module_rules: module_rules(&modules),
        rule_settings: config.rules.clone(),
    };
    exceptions::apply(&mut report, &config, exceptions::Date::today());
    phase("report", || deliver(&report, options, Target::Stderr))?;
    if report.denied() {
        return Ok(Outcome::Denied);
    }
    let output = phase("write the stream", || release.finish())?;
    phase("write stdout", || output::write_stdout(&output)).context("cannot write stdout")?;
    Ok(Outcome::Clean)
}

/// Files → engine → policy modules → findings on stdout; the manifests are dropped.
fn lint_files(lint: &Lint) -> Result<Outcome> {
    let options = &lint.options;
    let (config, modules) = configure(options)?;
    let files = if lint.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        lint.files.clone()
    };
    let mut report = Report {
        audit: options.audit,
        module_rules: module_rules(&modules),
        rule_settings: config.rules.clone(),
        ..Report::default()
    };
    for file in &files {
        let input = read_input(file)?;
        let name = (file.as_os_str() != "-").then(|| file.display().to_string());
        let (section, _) = process(input, name, &config, &modules, options)
            .with_context(|| format!("{}", file.display()))?;
        report.sections.push(section);
    }
    exceptions::apply(&mut report, &config, exceptions::Date::today());
    deliver(&report, options, Target::Stdout)?;
    Ok(if report.denied() {
        Outcome::Denied
    } else {
        Outcome::Clean
    })
}

/// The configuration and its policy modules, loaded and their settings checked.
pub(crate) fn configure(options: &Options) -> Result<(vf_plugin::Config, Vec<PolicyModule>)> {
    let path = options.shared.config.as_deref();
    let config = settings::load(path)?;
    let modules = crate::policy::modules(&config, &settings::base(path))?;
    exceptions::check_rules(&config, &module_rules(&modules)).with_context(|| match path {
        Some(path) => format!("config {}", path.display()),
        None => "config".to_owned(),
    })?;
    Ok((config, modules))
}

/// One input through the engine and the policy modules: its report section, and the
/// release, still to be written.
pub(crate) fn process(
    input: Vec<u8>,
    name: Option<String>,
    config: &vf_plugin::Config,
    modules: &[PolicyModule],
    options: &Options,
) -> Result<(Section, Box<dyn OpenRelease>)> {
    let rules: Vec<String> = module_rules(modules)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut release = phase("read, transform, check", || {
        let changes = if options.show_changes {
            vf_plugin::Changes::Tracked
        } else {
            vf_plugin::Changes::Untracked
        };
        engine::open(
            input,
            config,
            options.engine,
            &objects(modules),
            &rules,
            changes,
        )
    })?;
    crate::policy::evaluate::evaluate(modules, release.as_mut())?;
    let record = phase("summary", || release.record())?;
    let section = Section {
        input: name,
        objects: record.objects,
        applied: record.applied,
        findings: record.findings,
        changes: record.changes,
    };
    Ok((section, release))
}

/// What the modules read as whole objects: the kinds of those that ask for objects.
fn objects(modules: &[PolicyModule]) -> vf_plugin::Objects {
    let mut kinds = Vec::new();
    for m in modules
        .iter()
        .map(|m| &m.loaded.metadata)
        .filter(|m| m.needs_object)
    {
        if m.kinds.is_empty() {
            return vf_plugin::Objects::All;
        }
        kinds.extend(m.kinds.iter().cloned());
    }
    if kinds.is_empty() {
        vf_plugin::Objects::None
    } else {
        vf_plugin::Objects::Kinds(kinds)
    }
}

/// The rules policy modules declare: (id, summary).
fn module_rules(modules: &[PolicyModule]) -> Vec<(String, String)> {
    modules
        .iter()
        .flat_map(|m| {
            m.loaded
                .metadata
                .rules
                .iter()
                .map(|r| (r.id.clone(), r.summary.clone()))
        })
        .collect()
}

/// `vf-post test`: every case of every suite; denied (exit 1) when one fails.
fn test_suites(suites: &crate::cli::TestSuites) -> Result<Outcome> {
    let config = settings::load(suites.config.as_deref())?;
    let mut results = Vec::new();
    for path in crate::suite::find(&suites.paths)? {
        results.extend(crate::suite::run(&path, &config)?);
    }
    let text = match suites.format {
        crate::cli::TestFormat::Text => crate::suite::text(&results),
        crate::cli::TestFormat::Junit => crate::suite::junit(&results),
    };
    output::write_stdout(text.as_bytes()).context("cannot write stdout")?;
    let failed = results
        .iter()
        .any(|r| matches!(r.outcome, crate::suite::Outcome::Failed(_)));
    Ok(if failed {
        Outcome::Denied
    } else {
        Outcome::Clean
    })
}

fn list_rules(format: RulesFormat) -> Result<Outcome> {
    use vf_plugin::rules::catalog::RULES;
    let text = match format {
        RulesFormat::Text => RULES
            .iter()
            .map(|rule| {
                format!(
                    "{:<33} {:<13} {}\n",
                    rule.id,
                    default_severity(rule),
                    rule.summary
                )
            })
            .collect(),
        RulesFormat::Json => {
            let rules: Vec<_> = RULES
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "severity": r.severity, "enabled": r.on_by_default, "summary": r.summary, "hint": r.hint}))
                .collect();
            serde_json::to_string_pretty(&rules)? + "\n"
        }
        RulesFormat::Markdown => rules_markdown(RULES),
    };
    output::write_stdout(text.as_bytes()).context("cannot write stdout")?;
    Ok(Outcome::Clean)
}

/// A rule's severity, marked `(off)` for a rule that runs only when configured.
fn default_severity(rule: &vf_plugin::rules::catalog::Rule) -> String {
    let severity = rule.severity.as_str();
    if rule.on_by_default {
        severity.to_owned()
    } else {
        format!("{severity} (off)")
    }
}

/// docs/rules.md: the catalog as a table (a test keeps the file equal to this).
fn rules_markdown(rules: &[vf_plugin::rules::catalog::Rule]) -> String {
    // A `|` inside a cell would end it.
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = String::from(
        "# Built-in rules\n\n\
         Generated by `vf-post rules --format markdown > docs/rules.md`; a test keeps it current.\n\
         Change a rule's severity or turn it off under `rules:` in the configuration\n\
         ([configuration.md](configuration.md): `{severity: error}`, `{enabled: false}`; a rule\n\
         marked `(off)` runs only with `{enabled: true}`); waive it\n\
         on one object with the annotation `exempt.vf-post.virtufin.io/<id>: \"<reason>\"`\n\
         (`<id>.<container>` for one container), or on a chart you cannot edit with an entry of\n\
         `exceptions:` in the configuration, which has an owner and an end date.\n\n\
         | id | severity | checks | fix |\n|---|---|---|---|\n",
    );
    for rule in rules {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            rule.id,
            default_severity(rule),
            cell(rule.summary),
            cell(rule.hint)
        ));
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Stdout,
    Stderr,
}

/// Shows the report: on stdout (lint) or stderr (render), in --report, and under Helm 4,
/// which discards stderr, in the default report file and, when denied, on the terminal.
fn deliver(report: &Report, options: &Options, target: Target) -> Result<()> {
    let format = options.shared.format;
    let chart_path = options.chart_path.as_deref();
    let terminal = match target {
        Target::Stdout => std::io::stdout().is_terminal(),
        Target::Stderr => std::io::stderr().is_terminal(),
    };
    let shown = || report.render(format, color(options.color, terminal), chart_path);
    match target {
        Target::Stdout => {
            output::write_stdout(shown().as_bytes()).context("cannot write stdout")?;
        }
        Target::Stderr if !options.quiet || report.denied() => eprint!("{}", shown()),
        Target::Stderr => {}
    }
    if let Some(path) = &options.report {
        let plain = report.render(format, false, chart_path);
        output::write_file(path, plain.as_bytes())
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    if output::under_helm4_plugin() {
        let text = report.render(Format::Text, false, chart_path);
        if options.report.is_none()
            && let Some(path) = output::default_report_path()
        {
            // Best effort: a read-only home must not fail the release.
            let _ = output::write_file(&path, text.as_bytes());
        }
        if report.denied() {
            output::to_terminal(&report.render(
                Format::Text,
                color(options.color, true),
                chart_path,
            ));
        }
    }
    Ok(())
}

/// Colors when asked, or on a terminal unless NO_COLOR is set (no-color.org).
fn color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn read_input(file: &Path) -> Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        // A redirected file says its size: one allocation, no copying while growing (at
        // 20 MB that was a quarter of the run). A pipe (Helm's case) starts at 4 MiB.
        let stdin = std::io::stdin();
        let size = stdin
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len() as usize);
        let mut input = Vec::with_capacity(size.map_or(4 << 20, |n| n + 1));
        stdin
            .lock()
            .read_to_end(&mut input)
            .context("cannot read stdin")?;
        Ok(input)
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
    }
}
