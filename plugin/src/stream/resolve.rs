//! Scalars typed as go-yaml v2 types them, which is how Kubernetes (sigs.k8s.io/yaml) reads
//! YAML. A line-by-line port of `resolve` and `decoder.scalar` in gopkg.in/yaml.v2 2.4.0.

use base64::Engine as _;
use serde_json::{Number, Value};

/// A YAML core tag given explicitly (`!!int "3"`), by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTag {
    /// `!!str`.
    Str,
    /// `!!int`.
    Int,
    /// `!!float`.
    Float,
    /// `!!bool`.
    Bool,
    /// `!!null`.
    Null,
    /// `!!timestamp`.
    Timestamp,
    /// `!!binary`: base64, decoded.
    Binary,
    /// `!!merge`.
    Merge,
}

impl CoreTag {
    /// The tag for a core-schema suffix; `None` for anything Go does not resolve.
    pub fn from_suffix(suffix: &str) -> Option<CoreTag> {
        Some(match suffix {
            "str" => CoreTag::Str,
            "int" => CoreTag::Int,
            "float" => CoreTag::Float,
            "bool" => CoreTag::Bool,
            "null" => CoreTag::Null,
            "timestamp" => CoreTag::Timestamp,
            "binary" => CoreTag::Binary,
            "merge" => CoreTag::Merge,
            _ => return None,
        })
    }
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Unquoted: typed by its text.
    Plain,
    /// Quoted or a block scalar: a string unless tagged.
    Quoted,
}

/// What Go's resolver makes of a text before the JSON step.
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// A string; `timestamp` when it looked like one (Go then keeps the text).
    Str {
        timestamp: bool,
    },
}

/// The value of a scalar. `tag` is its explicit core tag; `custom` says a non-core tag was
/// given (Go then keeps the text as a string).
pub fn scalar(
    text: &str,
    written: Written,
    tag: Option<CoreTag>,
    custom: bool,
) -> Result<Value, String> {
    if custom || (tag.is_none() && written == Written::Quoted) {
        return Ok(Value::String(text.to_owned()));
    }
    match tag {
        Some(CoreTag::Str) | Some(CoreTag::Merge) => return Ok(Value::String(text.to_owned())),
        Some(CoreTag::Binary) => {
            // Go's base64 decoder skips line breaks only: a space or a tab is invalid data.
            let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| "!!binary value contains invalid base64 data".to_owned())?;
            return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        }
        _ => {}
    }
    let resolved = resolve(text);
    let resolved = match (tag, resolved) {
        (None, r) => r,
        (Some(CoreTag::Float), Resolved::Int(i)) => Resolved::Float(i as f64),
        (Some(CoreTag::Float), Resolved::Uint(_)) => {
            return Err(format!("cannot decode !!int `{text}` as a !!float"));
        }
        (Some(t), r) if matches(t, &r) => r,
        (Some(t), r) => {
            return Err(format!(
                "cannot decode {} `{text}` as a {}",
                name(&r),
                tag_name(t)
            ));
        }
    };
    Ok(match resolved {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Number(i.into()),
        Resolved::Uint(u) => Value::Number(u.into()),
        Resolved::Float(f) => Value::Number(Number::from_f64(f).ok_or_else(|| {
            format!("{text} is not a finite number; Kubernetes cannot read it (JSON has no {text})")
        })?),
        Resolved::Str { .. } => Value::String(text.to_owned()),
    })
}

/// A value as the API server holds it after Helm's JSON step. Go writes a float that is a
/// whole number below 1e21 as its shortest digits (`2.0` as `2`, `1.152921504606847e18` as
/// `1152921504606847000`, `-0.0` as `-0`), and the API server reads digits that fit an int64
/// as an int64. Rules and policies must see that integer: `replicas: 2.0` is 2 replicas, and
/// a policy comparing `1152921504606847000` must not see the float's binary value
/// `1152921504606846976`. Keys are not values: Go names a float key by its own format.
pub fn as_admitted(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => whole_float(n),
        other => other,
    }
}

/// A float as Go's JSON and the API server read it back: see [`as_admitted`]. Floats are rare
/// in manifests, so this stays out of the scalar path's code.
#[cold]
#[inline(never)]
fn whole_float(n: Number) -> Value {
    let f = n.as_f64().expect("an f64 number");
    // Rust's `{}` for f64 is the shortest digits that read back, never an exponent: Go's
    // `strconv.FormatFloat(f, 'f', -1, 64)`, which encoding/json uses below 1e21.
    match format!("{f}").parse::<i64>() {
        Ok(i) if f.fract() == 0.0 && f.abs() < 1e21 => Value::from(i),
        _ => Value::Number(n),
    }
}

fn matches(tag: CoreTag, r: &Resolved) -> bool {
    matches!(
        (tag, r),
        (CoreTag::Null, Resolved::Null)
            | (CoreTag::Bool, Resolved::Bool(_))
            | (CoreTag::Int, Resolved::Int(_) | Resolved::Uint(_))
            | (CoreTag::Float, Resolved::Float(_))
            | (CoreTag::Timestamp, Resolved::Str { timestamp: true })
    )
}

fn name(r: &Resolved) -> &'static str {
    match r {
        Resolved::Null => "!!null",
        Resolved::Bool(_) => "!!bool",
        Resolved::Int(_) | Resolved::Uint(_) => "!!int",
        Resolved::Float(_) => "!!float",
        Resolved::Str { timestamp: true } => "!!timestamp",
        Resolved::Str { .. } => "!!str",
    }
}

fn tag_name(t: CoreTag) -> &'static str {
    match t {
        CoreTag::Str => "!!str",
        CoreTag::Int => "!!int",
        CoreTag::Float => "!!float",
        CoreTag::Bool => "!!bool",
        CoreTag::Null => "!!null",
        CoreTag::Timestamp => "!!timestamp",
        CoreTag::Binary => "!!binary",
        CoreTag::Merge => "!!merge",
    }
}

/// go-yaml v2's `resolve` for an untagged text.
fn resolve(text: &str) -> Resolved {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let string = Resolved::Str { timestamp: false };
    match text.as_bytes()[0] {
        // Go hands these to strconv.ParseFloat as they are, underscores and all.
        b'.' => go_parse_float_with_underscores(text).map_or(string, Resolved::Float),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(text) {
                return Resolved::Str { timestamp: true };
            }
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(i) = parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if is_yaml_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Resolved::Float(f);
            }
            if let Some(digits) = plain.strip_prefix("-0b")
                && let Some(i) = digits_value(digits, 2).and_then(|v| i64::try_from(v).ok())
            {
                return Resolved::Int(-i);
            }
            string
        }
        _ => string,
    }
}

/// `strconv.ParseFloat(s, 64)` for the texts that reach it: out of range is an error.
fn go_parse_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// `strconv.ParseFloat(s, 64)` for a decimal text that may hold Go's digit separators
/// (`.5_0` is 0.5): allowed only between digits.
fn go_parse_float_with_underscores(s: &str) -> Option<f64> {
    if !s.contains('_') {
        return go_parse_float(s);
    }
    if !underscores_ok(s) {
        return None;
    }
    go_parse_float(&s.replace('_', ""))
}

/// Go's `underscoreOK` (strconv/atoi.go): every `_` sits between two digits (or a base
/// prefix and a digit).
fn underscores_ok(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let b = s.as_bytes();
    // `^` start, `0` digit or prefix, `_` underscore, `!` anything else.
    let (mut saw, mut i, mut hex) = (b'^', 0, false);
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        (saw, i, hex) = (b'0', 2, b[1].eq_ignore_ascii_case(&b'x'));
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && frac.bytes().all(|b| b.is_ascii_digit()),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// `strconv.ParseInt(s, 0, 64)`: a sign, then `0x`, `0o`, `0b`, a leading `0` (octal) or decimal.
fn parse_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = base0_value(rest)?;
    if negative {
        if magnitude == 1u128 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|v| -v)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `strconv.ParseUint(s, 0, 64)`: no sign allowed.
fn parse_uint(s: &str) -> Option<u64> {
    u64::try_from(base0_value(s)?).ok()
}

/// The value of an unsigned Go integer literal with base prefix detection.
fn base0_value(s: &str) -> Option<u128> {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => digits_value(&s[2..], 16),
        Some("0b") => digits_value(&s[2..], 2),
        Some("0o") => digits_value(&s[2..], 8),
        _ if s.len() > 1 && s.starts_with('0') => digits_value(&s[1..], 8),
        _ => digits_value(s, 10),
    }
}

fn digits_value(s: &str, radix: u32) -> Option<u128> {
    if s.is_empty() {
        return None;
    }
    let mut value: u128 = 0;
    for c in s.chars() {
        value = value
            .checked_mul(u128::from(radix))?
            .checked_add(u128::from(c.to_digit(radix)?))?;
        if value > u128::from(u64::MAX) {
            return None;
        }
    }
    Some(value)
}

/// go-yaml v2's `parseTimestamp`: four digits and a dash, then one of its formats.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..=i], &s[i + 1..]))),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let number = |t: &str, max_len: usize, lo: u32, hi: u32| {
        !t.is_empty()
            && t.len() <= max_len
            && t.bytes().all(|c| c.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|v| (lo..=hi).contains(&v))
    };
    if y.len() != 4 || !number(m, 2, 1, 12) || !number(d, 2, 1, days_in(y, m)) {
        return false;
    }
    match time {
        None => true,
        Some((sep, clock)) => is_clock(clock, sep != " "),
    }
}

fn days_in(year: &str, month: &str) -> u32 {
    let (y, m) = (
        year.parse::<u32>().unwrap_or(0),
        month.parse::<u32>().unwrap_or(0),
    );
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `15:4:5.999999999Z07:00` (zone required) after `T`/`t`, or `15:4:5.999999999` after a space.
fn is_clock(s: &str, zoned: bool) -> bool {
    let (clock, zone) = if zoned {
        match s.find(['Z', '+', '-']) {
            Some(i) => (&s[..i], Some(&s[i..])),
            None => return false,
        }
    } else {
        (s, None)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let fields: Vec<&str> = hms.split(':').collect();
    let field_ok = |t: &str, hi: u32| {
        (1..=2).contains(&t.len())
            && t.bytes().all(|c| c.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|v| v <= hi)
    };
    let clock_ok = fields.len() == 3
        && field_ok(fields[0], 23)
        && field_ok(fields[1], 59)
        && field_ok(fields[2], 59)
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()));
    let zone_ok = zone.is_none_or(|z| {
        z == "Z" || {
            let b = z.as_bytes();
            b.len() == 6
                && (b[0] == b'+' || b[0] == b'-')
                && field_ok(&z[1..3], 23)
                && b[3] == b':'
                && field_ok(&z[4..6], 59)
        }
    });
    clock_ok && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(text: &str) -> Value {
        scalar(text, Written::Plain, None, false).unwrap()
    }

    #[test]
    fn plain_scalars_as_go_yaml_v2_reads_them() {
        for (text, want) in [
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("y", json!(true)),
            ("~", json!(null)),
            ("", json!(null)),
            ("0644", json!(420)),
            ("0755", json!(493)),
            ("010", json!(8)),
            ("08", json!(8.0)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            ("0b101", json!(5)),
            ("-0b101", json!(-5)),
            ("1e3", json!(1000.0)),
            ("+1", json!(1)),
            ("-0", json!(0)),
            (".5", json!(0.5)),
            ("1_000", json!(1000)),
            ("1:20", json!("1:20")),
            ("2024-01-01", json!("2024-01-01")),
            ("NaN", json!("NaN")),
            ("inf", json!("inf")),
            ("12345678901234567890", json!(12_345_678_901_234_567_890u64)),
            (
                "123456789012345678901234567890",
                json!(1.234_567_890_123_456_8e29),
            ),
            ("-9223372036854775808", json!(i64::MIN)),
            ("1e999", json!("1e999")),
            ("3.0.1", json!("3.0.1")),
            ("500m", json!("500m")),
            ("=", json!("=")),
            ("<<", json!("<<")),
            ("1.", json!(1.0)),
            (".5_0", json!(0.5)),
            (".5e1_0", json!(5e9)),
            ("._5", json!("._5")),
            (".5_", json!(".5_")),
            (".5__0", json!(".5__0")),
        ] {
            assert_eq!(plain(text), want, "{text}");
        }
    }

    #[test]
    fn whole_floats_are_the_integers_the_api_server_holds() {
        let admitted = |text: &str| as_admitted(plain(text));
        assert_eq!(admitted("2.0"), json!(2));
        assert_eq!(admitted("-0.0"), json!(0));
        assert_eq!(admitted("3e0"), json!(3));
        // Go writes the shortest digits, not the float's binary value 1152921504606846976.
        assert_eq!(
            admitted("1.152921504606847e18"),
            json!(1_152_921_504_606_847_000_i64)
        );
        assert_eq!(admitted("0.5"), json!(0.5));
        // Beyond an int64 the API server keeps a float.
        assert_eq!(admitted("9.3e18"), json!(9.3e18));
        assert_eq!(admitted("1e21"), json!(1e21));
        assert_eq!(admitted("7"), json!(7));
    }

    #[test]
    fn quoted_and_tagged_scalars() {
        assert_eq!(
            scalar("yes", Written::Quoted, None, false).unwrap(),
            json!("yes")
        );
        assert_eq!(
            scalar("0x1F", Written::Quoted, Some(CoreTag::Int), false).unwrap(),
            json!(31)
        );
        assert_eq!(
            scalar("3", Written::Plain, Some(CoreTag::Float), false).unwrap(),
            json!(3.0)
        );
        assert_eq!(
            scalar("123", Written::Plain, Some(CoreTag::Str), false).unwrap(),
            json!("123")
        );
        assert_eq!(
            scalar("123", Written::Plain, None, true).unwrap(),
            json!("123")
        );
        assert_eq!(
            scalar("aGk=", Written::Plain, Some(CoreTag::Binary), false).unwrap(),
            json!("hi")
        );
        assert!(scalar("abc", Written::Plain, Some(CoreTag::Int), false).is_err());
        // Go's base64 skips line breaks only.
        assert!(scalar("aGVs bG8=", Written::Quoted, Some(CoreTag::Binary), false).is_err());
        assert_eq!(
            scalar("aGVs\nbG8=", Written::Quoted, Some(CoreTag::Binary), false).unwrap(),
            json!("hello")
        );
        assert!(scalar(".inf", Written::Plain, None, false).is_err());
    }

    #[test]
    fn timestamps_are_recognised_only_in_go_formats() {
        for yes in [
            "2024-01-01",
            "2024-1-2",
            "2001-12-14t21:59:43.10Z",
            "2024-01-01T10:00:00Z",
            "2024-01-01 10:00:00",
        ] {
            assert!(is_timestamp(yes), "{yes}");
        }
        for no in [
            "2024-13-01",
            "2024-02-30",
            "2024-01-01T10:00:00",
            "20240-01-01",
            "2024-01",
            "2024-01-01 10:00:00Z",
        ] {
            assert!(!is_timestamp(no), "{no}");
        }
    }
}
