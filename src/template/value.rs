//! Values as Go holds them inside consul-template, and how Go prints and
//! encodes them.
//!
//! - Data from Vault is decoded by Vault's client with `UseNumber`: a number
//!   is a `json.Number`, a string holding the number's text. It prints as
//!   written, counts as a *string* for `eq`/`lt`, is true when non-empty,
//!   and `toJSON` writes its text back.
//! - `parseJSON` decodes numbers into `float64`, which Go prints with
//!   `%v`: the shortest digits that read back, in `%e` form when the
//!   exponent is below -4 or at least 6 (`1`, `1.5`, `123456`, `1e+06`,
//!   `1e+21`, `1e-05`); `toJSON` writes them as `encoding/json` does
//!   (plain up to 1e21).
//! - Template literals are `int` (`3`) or `float64` (`3.0`).
//! - `fmt.Print` of a map is `map[k:v ...]` in sorted key order, of a list
//!   `[a b]`, of nil inside them `<nil>`; an absent value on its own prints
//!   `<no value>`.

use std::collections::BTreeMap;
use std::rc::Rc;

/// A value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// No value (Go's invalid value, a nil interface).
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `json.Number`: the number's text.
    Number(String),
    /// `string`.
    Str(String),
    /// `[]interface {}` (or `[]string` when `strings`).
    List(Rc<Vec<Val>>, bool),
    /// `map[string]interface {}`.
    Map(Rc<BTreeMap<String, Val>>),
    /// `*dependency.Secret`.
    Secret(Rc<Secret>),
}

/// A secret as consul-template hands it to a template.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secret {
    /// `.RequestID`.
    pub request_id: String,
    /// `.LeaseID`.
    pub lease_id: String,
    /// `.LeaseDuration` (seconds).
    pub lease_duration: i64,
    /// `.Renewable`.
    pub renewable: bool,
    /// `.Data`.
    pub data: BTreeMap<String, Val>,
    /// `.Warnings`.
    pub warnings: Vec<String>,
}

impl Secret {
    /// A field by its Go name.
    pub(crate) fn field(&self, name: &str) -> Option<Val> {
        Some(match name {
            "RequestID" => Val::Str(self.request_id.clone()),
            "LeaseID" => Val::Str(self.lease_id.clone()),
            "LeaseDuration" => Val::Int(self.lease_duration),
            "Renewable" => Val::Bool(self.renewable),
            "Data" => Val::Map(Rc::new(self.data.clone())),
            "Warnings" => Val::List(
                Rc::new(self.warnings.iter().cloned().map(Val::Str).collect()),
                true,
            ),
            "Auth" | "WrapInfo" => Val::Nil,
            _ => return None,
        })
    }
}

impl Val {
    /// A string value.
    pub(crate) fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// A `[]string`.
    pub(crate) fn strings(v: Vec<String>) -> Val {
        Val::List(Rc::new(v.into_iter().map(Val::Str).collect()), true)
    }

    /// Go's type name, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "<nil>",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Number(_) => "json.Number",
            Val::Str(_) => "string",
            Val::List(_, true) => "[]string",
            Val::List(_, false) => "[]interface {}",
            Val::Map(_) => "map[string]interface {}",
            Val::Secret(_) => "*dependency.Secret",
        }
    }

    /// Go's truth: false, 0, nil and empty things are false.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Number(s) | Val::Str(s) => !s.is_empty(),
            Val::List(l, _) => !l.is_empty(),
            Val::Map(m) => !m.is_empty(),
            Val::Secret(_) => true,
        }
    }

    /// The string inside a `string` (or `json.Number`, whose kind is string).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) | Val::Number(s) => Some(s),
            _ => None,
        }
    }

    /// From Vault's JSON (numbers are `json.Number`).
    pub(crate) fn from_vault(v: &serde_json::Value) -> Val {
        Val::from_json(v, true)
    }

    /// From JSON: numbers as `json.Number` (`numbers`) or `float64`.
    pub(crate) fn from_json(v: &serde_json::Value, numbers: bool) -> Val {
        use serde_json::Value as J;
        match v {
            J::Null => Val::Nil,
            J::Bool(b) => Val::Bool(*b),
            J::Number(n) if numbers => Val::Number(n.to_string()),
            J::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
            J::String(s) => Val::Str(s.clone()),
            J::Array(a) => Val::List(
                Rc::new(a.iter().map(|x| Val::from_json(x, numbers)).collect()),
                false,
            ),
            J::Object(m) => Val::Map(Rc::new(
                m.iter()
                    .map(|(k, x)| (k.clone(), Val::from_json(x, numbers)))
                    .collect(),
            )),
        }
    }
}

/// `fmt.Print` of a value at the top of an action: `<no value>` for none.
pub(crate) fn print_action(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("<no value>"),
        Val::Secret(s) => {
            // `printableValue` takes the pointer off: the struct prints.
            print_secret(s, out, false);
        }
        v => print_v(v, out),
    }
}

/// `%v`.
pub(crate) fn print_v(v: &Val, out: &mut String) {
    match v {
        Val::Nil => out.push_str("<nil>"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) => out.push_str(&format_g(*f, None, false)),
        Val::Number(s) | Val::Str(s) => out.push_str(s),
        Val::List(l, _) => {
            out.push('[');
            for (k, x) in l.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                print_v(x, out);
            }
            out.push(']');
        }
        Val::Map(m) => {
            out.push_str("map[");
            for (k, (key, x)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                print_v(x, out);
            }
            out.push(']');
        }
        Val::Secret(s) => print_secret(s, out, true),
    }
}

fn print_secret(s: &Secret, out: &mut String, pointer: bool) {
    if pointer {
        out.push('&');
    }
    out.push('{');
    out.push_str(&s.request_id);
    out.push(' ');
    out.push_str(&s.lease_id);
    out.push(' ');
    out.push_str(&s.lease_duration.to_string());
    out.push(' ');
    out.push_str(if s.renewable { "true" } else { "false" });
    out.push(' ');
    print_v(&Val::Map(Rc::new(s.data.clone())), out);
    out.push(' ');
    print_v(&Val::strings(s.warnings.clone()), out);
    out.push_str(" <nil> <nil>}");
}

/// The shortest decimal digits of `f` (no sign) and its decimal exponent:
/// `f = 0.d1d2... x 10^dp`.
pub(crate) fn shortest_digits(f: f64) -> (String, i32) {
    if f == 0.0 {
        return ("0".into(), 1);
    }
    // Rust's `{:e}` prints the shortest digits that read back.
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Digits of `f` rounded to `prec` significant digits (`prec` >= 1).
fn precise_digits(f: f64, prec: usize) -> (String, i32) {
    if f == 0.0 {
        return ("0".repeat(prec), 1);
    }
    let asked = prec.saturating_sub(1);
    let s = format!("{:.*e}", asked.min(EXACT_DIGITS), f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: String = mant.chars().filter(|c| *c != '.').collect();
    digits.extend(std::iter::repeat_n('0', asked.saturating_sub(EXACT_DIGITS)));
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

/// The most digits the formatter is asked for. Every f64's decimal
/// expansion is exact within them (at most 767 significant digits, 1,074
/// after the point); further digits are zeros, written here, since the
/// formatter takes no precision past 65,535 (it panics).
const EXACT_DIGITS: usize = 1_100;

fn exp_form(digits: &str, dp: i32, upper: bool, keep: usize) -> String {
    let mut out = String::new();
    out.push_str(&digits[..1]);
    let rest = &digits[1..keep.max(1).min(digits.len())];
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let e = dp - 1;
    out.push(if upper { 'E' } else { 'e' });
    out.push(if e < 0 { '-' } else { '+' });
    let a = e.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

fn plain_form(digits: &str, dp: i32) -> String {
    let mut out = String::new();
    if dp <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-dp) as usize));
        out.push_str(digits);
    } else if dp as usize >= digits.len() {
        out.push_str(digits);
        out.push_str(&"0".repeat(dp as usize - digits.len()));
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `%g` (`prec` None: shortest, as `%v` prints a float64).
pub(crate) fn format_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let (digits, dp, eprec) = match prec {
        None => {
            let (d, dp) = shortest_digits(f);
            // strconv: "if precision was the shortest possible, use
            // precision 6 for this decision".
            (d, dp, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (d, dp) = precise_digits(f, p);
            // %g trims trailing zeros.
            let d = d.trim_end_matches('0').to_string();
            let d = if d.is_empty() { "0".to_string() } else { d };
            let mut e = p as i32;
            if e > d.len() as i32 && d.len() as i32 >= dp {
                e = d.len() as i32;
            }
            (d, dp, e)
        }
    };
    let exp = dp - 1;
    let body = if exp < -4 || exp >= eprec {
        exp_form(&digits, dp, upper, digits.len())
    } else {
        plain_form(&digits, dp)
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Go's `%e` with `prec` digits after the point (default 6).
pub(crate) fn format_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let (digits, dp) = precise_digits(f, prec + 1);
    let body = exp_form(&digits, dp, upper, prec + 1);
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Go's `%f` with `prec` digits after the point.
pub(crate) fn format_f(f: f64, prec: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let mut s = format!("{:.*}", prec.min(EXACT_DIGITS), f);
    s.extend(std::iter::repeat_n('0', prec.saturating_sub(EXACT_DIGITS)));
    s
}

/// How Go's `encoding/json` writes a float64.
fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let a = f.abs();
    let (digits, dp) = shortest_digits(f);
    let body = if a != 0.0 && !(1e-6..1e21).contains(&a) {
        // %e, then e-07 -> e-7.
        let mut s = exp_form(&digits, dp, false, digits.len());
        if let Some(k) = s.find("e-0") {
            s.remove(k + 2);
        } else if let Some(k) = s.find("e+0") {
            s.remove(k + 2);
        }
        s
    } else {
        plain_form(&digits, dp)
    };
    Some(if f.is_sign_negative() && f != 0.0 {
        format!("-{body}")
    } else {
        body
    })
}

/// A string as Go's `encoding/json` writes it ([`crate::util::go_json_string`]).
pub(crate) fn json_string(s: &str, out: &mut String) {
    crate::util::go_json_string(s, out);
}

/// `json.Marshal` (`indent` None) or `json.MarshalIndent(v, "", indent)`.
pub(crate) fn to_json(v: &Val, indent: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    json_into(v, indent, 0, &mut out)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn json_into(v: &Val, indent: Option<&str>, depth: usize, out: &mut String) -> Result<(), String> {
    match v {
        Val::Nil => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) => out
            .push_str(&json_float(*f).ok_or_else(|| {
                format!("json: unsupported value: {}", format_g(*f, None, false))
            })?),
        Val::Number(n) => out.push_str(if n.is_empty() { "0" } else { n }),
        Val::Str(s) => json_string(s, out),
        Val::List(l, _) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (k, x) in l.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_into(x, indent, depth + 1, out)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Val::Map(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (k, (key, x)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(key, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                json_into(x, indent, depth + 1, out)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Val::Secret(s) => {
            // The struct's fields, in declaration order, by their Go names.
            let fields: Vec<(&str, Val)> = [
                "RequestID",
                "LeaseID",
                "LeaseDuration",
                "Renewable",
                "Data",
                "Warnings",
                "Auth",
                "WrapInfo",
            ]
            .iter()
            .map(|f| (*f, s.field(f).unwrap_or(Val::Nil)))
            .collect();
            out.push('{');
            for (k, (key, x)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(key, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                json_into(x, indent, depth + 1, out)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
    Ok(())
}

/// `yaml.Marshal` (gopkg.in/yaml.v2) of a map, as consul-template's
/// `toYAML` calls it (the result is trimmed by the caller).
pub(crate) fn to_yaml(m: &BTreeMap<String, Val>) -> String {
    let mut out = String::new();
    if m.is_empty() {
        return "{}\n".into();
    }
    yaml_map(m, 0, &mut out);
    out
}

fn yaml_map(m: &BTreeMap<String, Val>, depth: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&yaml_scalar_str(k));
        out.push(':');
        yaml_value_after_key(v, depth, out);
    }
}

fn yaml_value_after_key(v: &Val, depth: usize, out: &mut String) {
    match v {
        Val::Map(m) if !m.is_empty() => {
            out.push('\n');
            yaml_map(m, depth + 1, out);
        }
        Val::List(l, _) if !l.is_empty() => {
            out.push('\n');
            // yaml.v2 does not indent a sequence under its key.
            yaml_list(l, depth, out);
        }
        other => {
            out.push(' ');
            out.push_str(&yaml_scalar(other, depth));
            out.push('\n');
        }
    }
}

fn yaml_list(l: &[Val], depth: usize, out: &mut String) {
    for v in l {
        out.push_str(&"  ".repeat(depth));
        out.push('-');
        match v {
            Val::Map(m) if !m.is_empty() => {
                // The first key on the dash's line, the rest under it.
                let mut first = true;
                for (k, x) in m.iter() {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&"  ".repeat(depth + 1));
                    }
                    out.push_str(&yaml_scalar_str(k));
                    out.push(':');
                    yaml_value_after_key(x, depth + 1, out);
                }
            }
            Val::List(inner, _) if !inner.is_empty() => {
                out.push('\n');
                yaml_list(inner, depth + 1, out);
            }
            other => {
                out.push(' ');
                out.push_str(&yaml_scalar(other, depth));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Val, depth: usize) -> String {
    match v {
        Val::Nil => "null".into(),
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => yaml_float(*f),
        Val::Number(n) => {
            if let Ok(i) = n.parse::<i64>() {
                i.to_string()
            } else if let Ok(f) = n.parse::<f64>() {
                yaml_float(f)
            } else {
                yaml_scalar_str(n)
            }
        }
        Val::Str(s) if block_allowed(s) => {
            // A literal block; an indentation indicator when the text
            // starts with white space.
            let keep = if s.ends_with("\n\n") {
                "+"
            } else if s.ends_with('\n') {
                ""
            } else {
                "-"
            };
            let hint = if s.starts_with([' ', '\n']) { "2" } else { "" };
            let ind = "  ".repeat(depth + 1);
            let mut out = format!("|{hint}{keep}");
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&ind);
                    out.push_str(line);
                }
            }
            out
        }
        Val::Str(s) => yaml_scalar_str(s),
        Val::List(..) => "[]".into(),
        Val::Map(..) => "{}".into(),
        Val::Secret(_) => "{}".into(),
    }
}

/// Whether libyaml may write `s` as a literal block (yaml.v2 asks for one
/// for every string with a line break): no space before a line break, no
/// trailing space, nothing unprintable.
fn block_allowed(s: &str) -> bool {
    s.contains('\n')
        && !s.contains(" \n")
        && !s.ends_with(' ')
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+.inf".into()
        } else {
            "-.inf".into()
        };
    }
    // strconv.FormatFloat(f, 'g', -1, 64).
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let body = if !(-4..6).contains(&exp) {
        exp_form(&digits, dp, false, digits.len())
    } else {
        plain_form(&digits, dp)
    };
    if f.is_sign_negative() && f != 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// A string scalar: plain when YAML would read it back as the same string,
/// else double-quoted (yaml.v2's choice for strings that look like other
/// types) or single-quoted.
fn yaml_scalar_str(s: &str) -> String {
    if s.is_empty() {
        return "\"\"".into();
    }
    if resolves_to_non_string(s) {
        return format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    let first = s.chars().next().unwrap_or(' ');
    let plain = !matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    ) && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        || (first == '-'
            && s.len() > 1
            && !s[1..].starts_with(' ')
            && !s.contains(": ")
            && !s.contains(" #")
            && !s.ends_with(' ')
            && !s.ends_with(':'));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn resolves_to_non_string(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "null"
            | "Null"
            | "NULL"
            | "~"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "-.inf"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | "<<"
    ) || {
        let t = s.replace('_', "");
        let t = t.strip_prefix(['+', '-']).unwrap_or(&t);
        !t.is_empty()
            && (t.bytes().all(|b| b.is_ascii_digit())
                || t.strip_prefix("0x")
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
                || t.strip_prefix("0b")
                    .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1'))
                || (t.parse::<f64>().is_ok()
                    && t.bytes().any(|b| b.is_ascii_digit())
                    && !t.contains(['i', 'I', 'n', 'N'])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(f: f64) -> String {
        format_g(f, None, false)
    }

    #[test]
    fn go_prints_floats_as_it_does() {
        // fmt.Print(float64) is %v: %g with the shortest digits; %e from
        // an exponent of 6, or below -4.
        assert_eq!(v(1.0), "1");
        assert_eq!(v(1.5), "1.5");
        assert_eq!(v(1e21), "1e+21");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1e6), "1e+06");
        assert_eq!(v(123456789.0), "1.23456789e+08");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(-2.5e-7), "-2.5e-07");
        assert_eq!(v(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(v(0.0), "0");
        assert_eq!(v(f64::INFINITY), "+Inf");
        assert_eq!(format_g(1234.5678, Some(3), false), "1.23e+03");
        assert_eq!(format_g(0.5, Some(3), false), "0.5");
        assert_eq!(format_e(1234.5678, 2, false), "1.23e+03");
        assert_eq!(format_f(1.005, 2), "1.00");
    }

    #[test]
    fn go_json() {
        assert_eq!(json_float(1e21).unwrap(), "1e+21");
        assert_eq!(json_float(1e-7).unwrap(), "1e-7");
        assert_eq!(json_float(100.0).unwrap(), "100");
        assert_eq!(json_float(0.000001).unwrap(), "0.000001");
        let m = Val::from_json(
            &serde_json::json!({"b": [1, "x<y>&"], "a": {"n": null, "t": true}, "e": {}}),
            true,
        );
        assert_eq!(
            to_json(&m, None).unwrap(),
            r#"{"a":{"n":null,"t":true},"b":[1,"x\u003cy\u003e\u0026"],"e":{}}"#
        );
        assert_eq!(
            to_json(&m, Some("  ")).unwrap(),
            "{\n  \"a\": {\n    \"n\": null,\n    \"t\": true\n  },\n  \"b\": [\n    1,\n    \"x\\u003cy\\u003e\\u0026\"\n  ],\n  \"e\": {}\n}"
        );
    }

    #[test]
    fn go_print_of_composites() {
        let m = Val::from_json(&serde_json::json!({"b": [1, null], "a": "x"}), true);
        let mut s = String::new();
        print_action(&m, &mut s);
        assert_eq!(s, "map[a:x b:[1 <nil>]]");
        let mut s = String::new();
        print_action(&Val::Nil, &mut s);
        assert_eq!(s, "<no value>");
        assert!(Val::Number("0".into()).truth(), "a json.Number is a string");
    }

    #[test]
    fn yaml() {
        let m = Val::from_json(
            &serde_json::json!({"port": 5432, "name": "db", "on": "true", "list": ["a", "b"],
                                "nested": {"k": "v: x"}, "multi": "l1\nl2\n", "empty": ""}),
            true,
        );
        let Val::Map(m) = m else { panic!() };
        assert_eq!(
            to_yaml(&m),
            "empty: \"\"\nlist:\n- a\n- b\nmulti: |\n  l1\n  l2\nname: db\nnested:\n  k: 'v: x'\n\"on\": \"true\"\nport: 5432\n"
        );
    }
}
