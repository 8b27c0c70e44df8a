//! Exceptions of the configuration: findings waived on objects a team cannot annotate
//! (upstream charts), each with a reason, an owner and an end date. The host applies them
//! after every module has settled, since the engine has no clock, and across every input of
//! the run, so an exception is unused only when no input needed it.

use anyhow::{Result, bail};
use vf_plugin::Config;
use vf_plugin::config::Exception;
use vf_plugin::finding::{ExceptionRef, Exemption, Finding, WaivedBy};
use vf_plugin::rules::Hit;
use vf_plugin::rules::catalog::{self, EXCEPTION_EXPIRED as EXPIRED, EXCEPTION_UNUSED as UNUSED};

use crate::report::{Report, Section};

/// More exceptions than this is a configuration error: each finding is matched against each.
const MAX_EXCEPTIONS: usize = 10_000;

/// Checks what the configuration file alone can tell: required texts, dates, selectors that
/// could match nothing by mistake.
pub fn check_format(config: &Config) -> Result<()> {
    if config.exceptions.len() > MAX_EXCEPTIONS {
        bail!(
            "exceptions: {} entries, more than the {MAX_EXCEPTIONS} allowed",
            config.exceptions.len()
        );
    }
    for (i, e) in config.exceptions.iter().enumerate() {
        let at = |what: &str| format!("exceptions[{i}].{what}");
        for (what, text) in [
            ("rule", &e.rule),
            ("reason", &e.reason),
            ("owner", &e.owner),
        ] {
            if text.trim().is_empty() {
                bail!("{} is empty: every exception names its {what}", at(what));
            }
        }
        for (what, selector) in [
            ("kind", &e.kind),
            ("name", &e.name),
            ("namespace", &e.namespace),
            ("container", &e.container),
        ] {
            if selector.as_ref().is_some_and(|s| s.trim().is_empty()) {
                bail!(
                    "{} is empty, which matches nothing; leave it out to match any {what}",
                    at(what)
                );
            }
        }
        if Date::parse(&e.expires).is_none() {
            bail!(
                "{} is {:?}, not a date of the form YYYY-MM-DD",
                at("expires"),
                e.expires
            );
        }
        if e.rule == "object-identity" {
            bail!(
                "{}: object-identity cannot be waived: the API server refuses an object without apiVersion, kind or name, whatever vf-post says",
                at("rule")
            );
        }
        // Turned down under `rules:` instead, where the report says so.
        if catalog::HOST_RULES.contains(&e.rule.as_str()) {
            bail!(
                "{}: {} cannot be waived by an exception; change its severity under `rules:`",
                at("rule"),
                e.rule
            );
        }
    }
    Ok(())
}

/// Checks that each exception names a rule that exists: built in, or declared by a loaded
/// policy module. A misspelt rule would waive nothing, silently, until it expires.
pub fn check_rules(config: &Config, module_rules: &[(String, String)]) -> Result<()> {
    for (i, e) in config.exceptions.iter().enumerate() {
        let known =
            catalog::find(&e.rule).is_some() || module_rules.iter().any(|(id, _)| *id == e.rule);
        if !known {
            bail!(
                "exceptions[{i}].rule: {:?} is neither a built-in rule (`vf-post rules`) nor one a policy module declares",
                e.rule
            );
        }
    }
    Ok(())
}

/// Waives the findings live exceptions match, then reports every expired exception (an
/// error, whether or not it matches) and every live one that matched nothing (a warning).
/// Those findings go to the first input's section, under the configuration's rule settings.
pub fn apply(report: &mut Report, config: &Config, today: Date) {
    if config.exceptions.is_empty() {
        return;
    }
    let default_namespace = &config.admission.namespace;
    let live: Vec<bool> = config
        .exceptions
        .iter()
        .map(|e| Date::parse(&e.expires).is_some_and(|end| end >= today))
        .collect();
    let mut matched = vec![0usize; config.exceptions.len()];
    let mut used = vec![false; config.exceptions.len()];
    for finding in report.sections.iter_mut().flat_map(|s| &mut s.findings) {
        for (i, e) in config.exceptions.iter().enumerate() {
            if !matches(e, finding, default_namespace) {
                continue;
            }
            used[i] = true;
            // What the object's own annotation waives, the exception does not.
            if finding
                .exempted
                .as_ref()
                .is_none_or(|w| !matches!(w.by, WaivedBy::Annotation(_)))
            {
                matched[i] += 1;
            }
            if live[i] && finding.exempted.is_none() {
                finding.exempted = Some(Exemption {
                    by: WaivedBy::Exception(reference(i, e)),
                    reason: e.reason.clone(),
                });
            }
        }
    }
    let mut hits = Vec::new();
    for (i, e) in config.exceptions.iter().enumerate() {
        let (rule, message) = if !live[i] {
            let would = match matched[i] {
                0 => String::new(),
                n => format!(
                    " ({n} finding{} no longer waived)",
                    if n == 1 { "" } else { "s" }
                ),
            };
            (
                EXPIRED,
                format!(
                    "exceptions[{i}] for {} expired after {}{would}; its owner is {}",
                    scope(e),
                    e.expires,
                    e.owner
                ),
            )
        } else if !used[i] {
            (
                UNUSED,
                format!(
                    "exceptions[{i}] for {} (owner {}) waives nothing in this run",
                    scope(e),
                    e.owner
                ),
            )
        } else {
            continue;
        };
        hits.push(Hit {
            rule: rule.to_owned(),
            doc: None,
            container: None,
            path: None,
            message,
            severity: None,
            hint: None,
        });
    }
    let findings = vf_plugin::rules::settle(hits, &[], config, "builtin");
    if report.sections.is_empty() {
        report.sections.push(Section::default());
    }
    report.sections[0].findings.extend(findings);
}

fn matches(e: &Exception, finding: &Finding, default_namespace: &str) -> bool {
    if e.rule != finding.rule {
        return false;
    }
    let equal = |want: &Option<String>, have: Option<&str>| {
        want.as_deref().is_none_or(|want| have == Some(want))
    };
    let object = finding.object.as_ref();
    equal(&e.kind, object.map(|o| o.kind.as_str()))
        && equal(&e.name, object.map(|o| o.name.as_str()))
        && equal(
            &e.namespace,
            object.map(|o| o.namespace.as_deref().unwrap_or(default_namespace)),
        )
        && equal(&e.container, finding.container.as_deref())
}

fn reference(index: usize, e: &Exception) -> ExceptionRef {
    ExceptionRef {
        index,
        owner: e.owner.clone(),
        expires: e.expires.clone(),
    }
}

/// `rule on Kind namespace/name container c`, as much as the exception names.
fn scope(e: &Exception) -> String {
    let mut out = e.rule.clone();
    if e.kind.is_some() || e.name.is_some() || e.namespace.is_some() {
        out.push_str(" on ");
        out.push_str(e.kind.as_deref().unwrap_or("any kind"));
        out.push(' ');
        if let Some(namespace) = &e.namespace {
            out.push_str(namespace);
            out.push('/');
        }
        out.push_str(e.name.as_deref().unwrap_or("*"));
    }
    if let Some(container) = &e.container {
        out.push_str(" container ");
        out.push_str(container);
    }
    out
}

/// A day of the proleptic Gregorian calendar, ordered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// `YYYY-MM-DD` exactly, a day that exists (no `2027-02-30`).
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            bytes[range.clone()]
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| text[range].parse::<u32>().ok())
                .flatten()
        };
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let date = Date {
            year: i64::from(year),
            month,
            day,
        };
        ((1..=12).contains(&month) && (1..=date.days_in_month()).contains(&day)).then_some(date)
    }

    /// The day `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_unix_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date { year, month, day }
    }

    /// Today in UTC, by the system clock.
    pub fn today() -> Date {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Date::from_unix_days((seconds / 86_400) as i64)
    }

    fn days_in_month(&self) -> u32 {
        let leap = self.year % 4 == 0 && (self.year % 100 != 0 || self.year % 400 == 0);
        match self.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vf_plugin::Severity;
    use vf_plugin::finding::ObjectRef;

    #[test]
    fn dates_are_read_strictly() {
        assert!(Date::parse("2027-06-30").is_some());
        assert!(Date::parse("2028-02-29").is_some());
        assert!(Date::parse("2000-02-29").is_some());
        for bad in [
            "2027-02-29",
            "1900-02-29",
            "2027-04-31",
            "2027-13-01",
            "2027-00-10",
            "2027-06-00",
            "2027-6-30",
            "27-06-30",
            "2027/06/30",
            "2027-06-30T00:00:00Z",
            " 2027-06-30",
            "+027-06-30",
            "２０２７-06-30",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn days_since_the_epoch_become_the_calendar_day() {
        assert_eq!(Date::from_unix_days(0), Date::parse("1970-01-01").unwrap());
        assert_eq!(
            Date::from_unix_days(11_016),
            Date::parse("2000-02-29").unwrap()
        );
        assert_eq!(
            Date::from_unix_days(20_635),
            Date::parse("2026-07-01").unwrap()
        );
        assert_eq!(Date::from_unix_days(-1), Date::parse("1969-12-31").unwrap());
        // Every day for 200 years follows the one before, so the two readings agree.
        let mut previous = Date::from_unix_days(0);
        for days in 1..73_000 {
            let date = Date::from_unix_days(days);
            assert!(date > previous);
            let text = format!("{:04}-{:02}-{:02}", date.year, date.month, date.day);
            assert_eq!(Date::parse(&text), Some(date), "{text}");
            previous = date;
        }
    }

    fn exception(rule: &str, expires: &str) -> Exception {
        Exception {
            rule: rule.into(),
            kind: None,
            name: None,
            namespace: None,
            container: None,
            reason: "upstream chart".into(),
            owner: "platform".into(),
            expires: expires.into(),
        }
    }

    fn finding(
        rule: &str,
        name: &str,
        namespace: Option<&str>,
        container: Option<&str>,
    ) -> Finding {
        Finding {
            rule: rule.into(),
            severity: Severity::Error,
            message: "m".into(),
            hint: "h".into(),
            object: Some(ObjectRef {
                kind: "Job".into(),
                name: name.into(),
                namespace: namespace.map(Into::into),
                source: None,
                document: 1,
            }),
            container: container.map(Into::into),
            path: None,
            origin: "builtin".into(),
            exempted: None,
            introduced_by: Vec::new(),
        }
    }

    fn run(exceptions: Vec<Exception>, findings: Vec<Finding>, today: &str) -> Vec<Finding> {
        let config = Config {
            exceptions,
            ..Config::default()
        };
        let mut report = Report {
            sections: vec![Section {
                findings,
                ..Section::default()
            }],
            ..Report::default()
        };
        apply(&mut report, &config, Date::parse(today).unwrap());
        report.sections.remove(0).findings
    }

    #[test]
    fn an_exception_waives_through_its_last_day_and_is_an_error_the_day_after() {
        let one = || {
            vec![finding(
                "container-requests",
                "create",
                None,
                Some("create"),
            )]
        };
        let on_the_day = run(
            vec![exception("container-requests", "2027-06-30")],
            one(),
            "2027-06-30",
        );
        assert_eq!(on_the_day.len(), 1);
        let waived = on_the_day[0].exempted.as_ref().expect("waived");
        assert!(matches!(&waived.by, WaivedBy::Exception(e) if e.index == 0));
        assert_eq!(waived.reason, "upstream chart");

        let after = run(
            vec![exception("container-requests", "2027-06-30")],
            one(),
            "2027-07-01",
        );
        assert_eq!(after.len(), 2);
        assert!(after[0].denies(), "an expired exception waives nothing");
        assert_eq!(after[1].rule, "exception-expired");
        assert!(after[1].denies());
        assert!(after[1].message.contains("exceptions[0]"));
        assert!(after[1].message.contains("1 finding no longer waived"));
    }

    #[test]
    fn every_selector_must_match_and_the_default_namespace_stands_in() {
        let mut e = exception("container-requests", "2099-01-01");
        e.kind = Some("Job".into());
        e.name = Some("create".into());
        e.namespace = Some("default".into());
        e.container = Some("create".into());
        let findings = vec![
            finding("container-requests", "create", None, Some("create")),
            finding(
                "container-requests",
                "create",
                Some("default"),
                Some("create"),
            ),
            finding(
                "container-requests",
                "create",
                Some("other"),
                Some("create"),
            ),
            finding("container-requests", "create", None, Some("patch")),
            finding("container-requests", "create", None, None),
            finding("container-limits", "create", None, Some("create")),
            finding("container-requests", "patch", None, Some("create")),
        ];
        let out = run(vec![e], findings, "2026-11-30");
        let waived: Vec<bool> = out.iter().map(|f| f.exempted.is_some()).collect();
        assert_eq!(waived, [true, true, false, false, false, false, false]);
    }

    #[test]
    fn an_exception_that_matches_nothing_is_a_warning_and_an_annotation_keeps_its_waiver() {
        let mut annotated = finding("image-tag-pinned", "a", None, Some("c"));
        annotated.exempted = Some(Exemption {
            by: WaivedBy::Annotation("exempt.vf-post.virtufin.io/image-tag-pinned".into()),
            reason: "chart's own".into(),
        });
        let out = run(
            vec![
                exception("image-tag-pinned", "2099-01-01"),
                exception("no-host-network", "2099-01-01"),
            ],
            vec![annotated],
            "2026-11-30",
        );
        assert_eq!(out.len(), 2, "{out:#?}");
        let kept = out[0].exempted.as_ref().unwrap();
        assert_eq!(
            kept.by,
            WaivedBy::Annotation("exempt.vf-post.virtufin.io/image-tag-pinned".into())
        );
        assert_eq!(out[1].rule, "exception-unused");
        assert_eq!(out[1].severity, Severity::Warning);
        assert!(
            out[1]
                .message
                .starts_with("exceptions[1] for no-host-network")
        );
    }

    #[test]
    fn the_format_is_checked_and_names_the_entry() {
        let check = |edit: &dyn Fn(&mut Exception)| {
            let mut e = exception("container-requests", "2099-01-01");
            edit(&mut e);
            let config = Config {
                exceptions: vec![exception("image-tag-pinned", "2099-01-01"), e],
                ..Config::default()
            };
            check_format(&config).map_err(|e| e.to_string())
        };
        assert_eq!(check(&|_| {}), Ok(()));
        let err = |edit: &dyn Fn(&mut Exception)| check(edit).unwrap_err();
        assert!(err(&|e| e.reason = "  ".into()).starts_with("exceptions[1].reason is empty"));
        assert!(err(&|e| e.owner = String::new()).starts_with("exceptions[1].owner is empty"));
        assert!(err(&|e| e.expires = "2027-02-30".into()).starts_with("exceptions[1].expires"));
        assert!(err(&|e| e.kind = Some(String::new())).starts_with("exceptions[1].kind is empty"));
        assert!(err(&|e| e.rule = "exception-expired".into()).contains("cannot be waived"));
        let config = Config {
            exceptions: vec![exception("no-such-rule", "2099-01-01")],
            ..Config::default()
        };
        let unknown = check_rules(&config, &[]).unwrap_err().to_string();
        assert!(
            unknown.starts_with("exceptions[0].rule: \"no-such-rule\""),
            "{unknown}"
        );
        assert!(check_rules(&config, &[("no-such-rule".into(), String::new())]).is_ok());
    }
}
