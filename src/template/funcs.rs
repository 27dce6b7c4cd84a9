//! The functions a template may call: Go's built-ins and the
//! consul-template functions Vault Agent templates use. Each checks its
//! operands as Go's reflection would (a `json.Number` is not a `string`, a
//! `[]interface {}` is not a `[]string`) and fails with Go's words.
//!
//! Argument order follows consul-template: the piped value comes last, so
//! `{{ .list | join "," }}` is `join "," .list`.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::exec::{empty_map, State};
use super::printf::sprintf;
use super::value::{print_v, to_json, to_yaml, Secret, Val};
use crate::util::base64;

/// Every function a template may name.
const NAMES: &[&str] = &[
    // Go's built-ins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // consul-template: Vault and the process.
    "secret",
    "secrets",
    "pkiCert",
    "env",
    "timestamp",
    // consul-template: encodings.
    "base64Encode",
    "base64Decode",
    "base64URLEncode",
    "base64URLDecode",
    "toJSON",
    "toJSONPretty",
    "toYAML",
    "parseJSON",
    "parseBool",
    "parseInt",
    "parseFloat",
    "sha256Hex",
    // consul-template: strings and lists.
    "toLower",
    "toUpper",
    "toTitle",
    "trimSpace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "split",
    "join",
    "replaceAll",
    "contains",
    "containsAll",
    "containsAny",
    "indent",
    // consul-template: arithmetic.
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
];

/// Whether a template may call `name`.
pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

type R = Result<Val, String>;

fn arity(name: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// A `string` operand (not a `json.Number`: Go would not convert it).
fn string(v: &Val) -> Result<String, String> {
    match v {
        Val::Str(s) => Ok(s.clone()),
        Val::Nil => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

fn strings(args: &[Val]) -> Result<Vec<String>, String> {
    args.iter().map(string).collect()
}

fn int(v: &Val) -> Result<i64, String> {
    match v {
        Val::Int(i) => Ok(*i),
        Val::Nil => Err("invalid value; expected int".into()),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// `"k=v"` parameters of `secret`/`pkiCert`.
fn params(args: &[String]) -> Result<Vec<(String, String)>, String> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("invalid parameter {a:?}: expected key=value")),
        })
        .collect()
}

pub(crate) fn call(st: &mut State<'_>, name: &str, args: Vec<Val>) -> R {
    let cap = st.limits.output;
    match name {
        "not" => {
            arity(name, &args, 1)?;
            Ok(Val::Bool(!args[0].truth()))
        }
        "len" => {
            arity(name, &args, 1)?;
            Ok(Val::Int(match &args[0] {
                Val::Str(s) | Val::Number(s) => s.len() as i64,
                Val::List(l, _) => l.len() as i64,
                Val::Map(m) => m.len() as i64,
                Val::Nil => return Err("len of nil pointer".into()),
                other => return Err(format!("len of type {}", other.type_name())),
            }))
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Val::Map(m), Val::Str(key)) => m.get(key).cloned().unwrap_or(Val::Nil),
                    (Val::Map(_), other) => {
                        return Err(format!(
                            "value has type {}; should be string",
                            other.type_name()
                        ))
                    }
                    (Val::List(l, _), Val::Int(i)) => {
                        match usize::try_from(*i).ok().and_then(|i| l.get(i)) {
                            Some(x) => x.clone(),
                            None => {
                                return Err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Val::Str(s) | Val::Number(s), Val::Int(i)) => {
                        match usize::try_from(*i).ok().and_then(|i| s.as_bytes().get(i)) {
                            Some(b) => Val::Int(*b as i64),
                            None => return Err(format!("index out of range: {i}")),
                        }
                    }
                    (Val::List(..) | Val::Str(_), other) => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            other.type_name()
                        ))
                    }
                    (Val::Nil, _) => return Err("index of untyped nil".into()),
                    (other, _) => {
                        return Err(format!("can't index item of type {}", other.type_name()))
                    }
                };
            }
            Ok(v)
        }
        "slice" => {
            if args.is_empty() || args.len() > 4 {
                return Err(format!(
                    "wrong number of args for slice: want 1 to 4 got {}",
                    args.len()
                ));
            }
            let idx: Vec<i64> = args[1..].iter().map(int).collect::<Result<_, _>>()?;
            let len = match &args[0] {
                Val::Str(s) => s.len(),
                Val::List(l, _) => l.len(),
                other => return Err(format!("can't slice item of type {}", other.type_name())),
            } as i64;
            let lo = idx.first().copied().unwrap_or(0);
            let hi = idx.get(1).copied().unwrap_or(len);
            if lo < 0 || hi < lo || hi > len {
                return Err(format!("invalid slice index: {lo} > {hi} or out of range"));
            }
            let (lo, hi) = (lo as usize, hi as usize);
            match &args[0] {
                Val::Str(s) => s
                    .get(lo..hi)
                    .map(Val::str)
                    .ok_or_else(|| "slice of a string inside a character".to_string()),
                Val::List(l, t) => Ok(Val::List(Rc::new(l[lo..hi].to_vec()), *t)),
                _ => unreachable_err(),
            }
        }
        "print" | "println" => {
            let mut out = String::new();
            for (k, a) in args.iter().enumerate() {
                let is_str = |v: &Val| matches!(v, Val::Str(_) | Val::Number(_));
                if k > 0 && (name == "println" || !(is_str(a) || is_str(&args[k - 1]))) {
                    out.push(' ');
                }
                print_v(a, &mut out);
                if out.len() > cap {
                    return Err(format!("the result is larger than {cap} bytes"));
                }
            }
            if name == "println" {
                out.push('\n');
            }
            Ok(Val::Str(out))
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            let f = string(&args[0])?;
            sprintf(&f, &args[1..], cap).map(Val::Str)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => compare(name, &args),
        "html" => Ok(Val::Str(html(&printed(&args)))),
        "js" => Ok(Val::Str(js(&printed(&args)))),
        "urlquery" => Ok(Val::Str(urlquery(&printed(&args)))),

        "secret" => {
            let a = strings(&args)?;
            let Some((path, rest)) = a.split_first() else {
                return Err("wrong number of args for secret: want at least 1 got 0".into());
            };
            let p = params(rest)?;
            let s = st.fetch.secret(path, &p)?;
            Ok(Val::Secret(Rc::new(s)))
        }
        "secrets" => {
            arity(name, &args, 1)?;
            let path = string(&args[0])?;
            Ok(Val::strings(st.fetch.secrets(&path)?))
        }
        "pkiCert" => {
            let a = strings(&args)?;
            let Some((path, rest)) = a.split_first() else {
                return Err("wrong number of args for pkiCert: want at least 1 got 0".into());
            };
            let p = params(rest)?;
            let s = st.fetch.pki_cert(path, &p)?;
            Ok(Val::Secret(Rc::new(s)))
        }
        "env" => {
            arity(name, &args, 1)?;
            let n = string(&args[0])?;
            Ok(Val::Str(st.fetch.env(&n)))
        }
        "timestamp" => {
            let a = strings(&args)?;
            let now = st.fetch.now();
            match a.as_slice() {
                [] => Ok(Val::Str(rfc3339(now))),
                [f] if f == "unix" => Ok(Val::Str(now.to_string())),
                [f] if f == "2006-01-02T15:04:05Z07:00" => Ok(Val::Str(rfc3339(now))),
                [f] => Err(format!(
                    "timestamp: the layout {f:?} is not supported (\"unix\" and RFC 3339 are)"
                )),
                _ => Err(format!(
                    "wrong number of args for timestamp: want 0 or 1 got {}",
                    a.len()
                )),
            }
        }

        "base64Encode" | "base64URLEncode" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            let e = base64::encode(s.as_bytes());
            Ok(Val::Str(if name == "base64URLEncode" {
                e.replace('+', "-").replace('/', "_")
            } else {
                e
            }))
        }
        "base64Decode" | "base64URLDecode" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            let std = if name == "base64URLDecode" {
                if s.contains(['+', '/']) {
                    return Err(format!("{name}: illegal base64 data"));
                }
                s.replace('-', "+").replace('_', "/")
            } else {
                if s.contains(['-', '_']) {
                    return Err(format!("{name}: illegal base64 data"));
                }
                s
            };
            let b = base64::decode(&std).map_err(|_| format!("{name}: illegal base64 data"))?;
            Ok(Val::Str(String::from_utf8_lossy(&b).into_owned()))
        }
        "toJSON" => {
            arity(name, &args, 1)?;
            to_json(&args[0], None).map(|s| Val::Str(s.trim().to_string()))
        }
        "toJSONPretty" => {
            arity(name, &args, 1)?;
            to_json(&args[0], Some("  ")).map(|s| Val::Str(s.trim().to_string()))
        }
        "toYAML" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Val::Map(m) => Ok(Val::Str(to_yaml(m).trim().to_string())),
                Val::Nil => Ok(Val::Str("{}".into())),
                other => Err(format!(
                    "wrong type for value; expected map[string]interface {{}}; got {}",
                    other.type_name()
                )),
            }
        }
        "parseJSON" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            if s.is_empty() {
                return Ok(empty_map());
            }
            let v: serde_json::Value =
                serde_json::from_str(&s).map_err(|e| format!("parseJSON: {e}"))?;
            let items = st.limits.items;
            if json_values(&v, items) > items {
                return Err(format!(
                    "parseJSON: the document has more than {items} values"
                ));
            }
            Ok(Val::from_json(&v, false))
        }
        "parseBool" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            match s.as_str() {
                "" => Ok(Val::Bool(false)),
                "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Val::Bool(true)),
                "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Val::Bool(false)),
                _ => Err(format!(
                    "parseBool: strconv.ParseBool: parsing {}: invalid syntax",
                    unshown(&s)
                )),
            }
        }
        "parseInt" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            if s.is_empty() {
                return Ok(Val::Int(0));
            }
            s.parse::<i64>().map(Val::Int).map_err(|_| {
                format!(
                    "parseInt: strconv.ParseInt: parsing {}: invalid syntax",
                    unshown(&s)
                )
            })
        }
        "parseFloat" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            if s.is_empty() {
                return Ok(Val::Float(0.0));
            }
            s.parse::<f64>().map(Val::Float).map_err(|_| {
                format!(
                    "parseFloat: strconv.ParseFloat: parsing {}: invalid syntax",
                    unshown(&s)
                )
            })
        }
        "sha256Hex" => {
            arity(name, &args, 1)?;
            use sha2::Digest;
            let s = string(&args[0])?;
            let d = sha2::Sha256::digest(s.as_bytes());
            Ok(Val::Str(d.iter().map(|b| format!("{b:02x}")).collect()))
        }

        "toLower" | "toUpper" | "toTitle" | "trimSpace" => {
            arity(name, &args, 1)?;
            let s = string(&args[0])?;
            Ok(Val::Str(match name {
                "toLower" => s.to_lowercase(),
                "toUpper" => s.to_uppercase(),
                "toTitle" => title(&s),
                _ => s.trim_matches(go_space).to_string(),
            }))
        }
        "trim" | "trimPrefix" | "trimSuffix" => {
            arity(name, &args, 2)?;
            let (a, s) = (string(&args[0])?, string(&args[1])?);
            Ok(Val::Str(match name {
                "trim" => s.trim_matches(|c| a.contains(c)).to_string(),
                "trimPrefix" => s.strip_prefix(a.as_str()).unwrap_or(&s).to_string(),
                _ => s.strip_suffix(a.as_str()).unwrap_or(&s).to_string(),
            }))
        }
        "split" => {
            arity(name, &args, 2)?;
            let (sep, s) = (string(&args[0])?, string(&args[1])?);
            let s = s.trim_matches(go_space);
            if s.is_empty() {
                return Ok(Val::strings(Vec::new()));
            }
            let parts: Vec<String> = if sep.is_empty() {
                s.chars().map(String::from).collect()
            } else {
                s.split(sep.as_str()).map(str::to_string).collect()
            };
            Ok(Val::strings(parts))
        }
        "join" => {
            arity(name, &args, 2)?;
            let sep = string(&args[0])?;
            let Val::List(items, true) = &args[1] else {
                return Err(format!(
                    "wrong type for value; expected []string; got {}",
                    args[1].type_name()
                ));
            };
            let total: usize = items
                .iter()
                .filter_map(Val::as_str)
                .map(str::len)
                .sum::<usize>()
                + sep.len() * items.len();
            if total > cap {
                return Err(format!("the result is larger than {cap} bytes"));
            }
            let parts: Vec<&str> = items.iter().filter_map(Val::as_str).collect();
            Ok(Val::Str(parts.join(&sep)))
        }
        "replaceAll" => {
            arity(name, &args, 3)?;
            let (from, to, s) = (string(&args[0])?, string(&args[1])?, string(&args[2])?);
            let n = if from.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(from.as_str()).count()
            };
            if s.len() + n.saturating_mul(to.len()) > cap {
                return Err(format!("the result is larger than {cap} bytes"));
            }
            Ok(Val::Str(s.replace(from.as_str(), &to)))
        }
        "indent" => {
            arity(name, &args, 2)?;
            let n = int(&args[0])?;
            let s = string(&args[1])?;
            if n < 0 {
                return Err("indent value must be a positive integer".into());
            }
            let lines = s.matches('\n').count() + 1;
            if (n as usize).saturating_mul(lines).saturating_add(s.len()) > cap {
                return Err(format!("the result is larger than {cap} bytes"));
            }
            let pad = " ".repeat(n as usize);
            Ok(Val::Str(
                s.split('\n')
                    .map(|l| format!("{pad}{l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ))
        }
        "contains" => {
            arity(name, &args, 2)?;
            Ok(Val::Bool(contains(&args[1], &args[0])))
        }
        "containsAll" | "containsAny" => {
            arity(name, &args, 2)?;
            let Val::List(needles, _) = &args[0] else {
                return Err(format!(
                    "{name}: expected a list, got {}",
                    args[0].type_name()
                ));
            };
            let all = name == "containsAll";
            let mut r = all;
            for n in needles.iter() {
                let c = contains(&args[1], n);
                if all && !c {
                    r = false;
                    break;
                }
                if !all && c {
                    r = true;
                    break;
                }
            }
            Ok(Val::Bool(r))
        }
        "add" | "subtract" | "multiply" | "divide" | "modulo" => {
            arity(name, &args, 2)?;
            arith(name, &args[1], &args[0])
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// How many values `v` holds (itself included), counting no further than
/// just past `max`.
fn json_values(v: &serde_json::Value, max: usize) -> usize {
    use serde_json::Value as J;
    let mut n = 1;
    match v {
        J::Array(a) => {
            for x in a {
                n += json_values(x, max - n.min(max));
                if n > max {
                    break;
                }
            }
        }
        J::Object(m) => {
            for x in m.values() {
                n += json_values(x, max - n.min(max));
                if n > max {
                    break;
                }
            }
        }
        _ => {}
    }
    n
}

/// Go's `time.RFC3339` of a UTC time: `2006-01-02T15:04:05Z`.
fn rfc3339(unix: u64) -> String {
    let t = crate::util::time::format_iso8601(unix, 0);
    match t.strip_suffix("+00:00") {
        Some(s) => format!("{s}Z"),
        None => t,
    }
}

/// A value an error is about, not shown: it may be a secret, and errors
/// reach logs and the status file. Go quotes the value here.
fn unshown(s: &str) -> String {
    format!("a value of {} bytes (not shown)", s.len())
}

fn unreachable_err() -> R {
    Err("unexpected value".into())
}

fn go_space(c: char) -> bool {
    c.is_whitespace()
}

fn title(s: &str) -> String {
    // strings.Title: the first letter of each word upper case.
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn printed(args: &[Val]) -> String {
    // Go's evalArgs for html/js/urlquery: a single string as is, else
    // fmt.Sprint of them all.
    if let [Val::Str(s)] = args {
        return s.clone();
    }
    let mut out = String::new();
    for (k, a) in args.iter().enumerate() {
        let is_str = |v: &Val| matches!(v, Val::Str(_) | Val::Number(_));
        if k > 0 && !(is_str(a) || is_str(&args[k - 1])) {
            out.push(' ');
        }
        print_v(a, &mut out);
    }
    out
}

fn html(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `url.QueryEscape`.
fn urlquery(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// consul-template's `in`: an element of a list, or a substring, of the
/// same type.
fn contains(haystack: &Val, needle: &Val) -> bool {
    match haystack {
        Val::List(items, _) => items.iter().any(|x| same(x, needle)),
        Val::Str(h) => matches!(needle, Val::Str(n) if h.contains(n.as_str())),
        _ => false,
    }
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) | (Val::Number(x), Val::Number(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        _ => false,
    }
}

#[derive(PartialEq, PartialOrd)]
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn basic(v: &Val) -> Result<Basic<'_>, String> {
    Ok(match v {
        Val::Bool(b) => Basic::Bool(*b),
        Val::Int(i) => Basic::Int(*i),
        Val::Float(f) => Basic::Float(*f),
        Val::Str(s) | Val::Number(s) => Basic::Str(s),
        Val::Nil => return Err("invalid type for comparison".into()),
        _ => return Err("non-comparable type".into()),
    })
}

fn kind(b: &Basic<'_>) -> u8 {
    match b {
        Basic::Bool(_) => 0,
        Basic::Int(_) => 1,
        Basic::Float(_) => 2,
        Basic::Str(_) => 3,
    }
}

fn compare(name: &str, args: &[Val]) -> R {
    if name == "eq" {
        if args.len() < 2 {
            return Err("missing argument for comparison".into());
        }
        let a = basic(&args[0])?;
        for b in &args[1..] {
            let b = basic(b)?;
            if kind(&a) != kind(&b) {
                return Err("incompatible types for comparison".into());
            }
            if a == b {
                return Ok(Val::Bool(true));
            }
        }
        return Ok(Val::Bool(false));
    }
    arity(name, args, 2)?;
    let (a, b) = (basic(&args[0])?, basic(&args[1])?);
    if kind(&a) != kind(&b) {
        return Err("incompatible types for comparison".into());
    }
    if name == "ne" {
        return Ok(Val::Bool(a != b));
    }
    if kind(&a) == 0 {
        return Err("invalid type for comparison".into());
    }
    let lt = a < b;
    Ok(Val::Bool(match name {
        "lt" => lt,
        "le" => lt || a == b,
        "gt" => !lt && a != b,
        _ => !lt,
    }))
}

/// consul-template's arithmetic: `a OP b` on ints and floats.
fn arith(name: &str, a: &Val, b: &Val) -> R {
    let f = |v: &Val| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(x) => Some(*x),
        _ => None,
    };
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let r = match name {
                "add" => x.checked_add(*y),
                "subtract" => x.checked_sub(*y),
                "multiply" => x.checked_mul(*y),
                "divide" if *y == 0 => return Err("divide: division by 0".into()),
                "divide" => x.checked_div(*y),
                _ if *y == 0 => return Err("modulo: division by 0".into()),
                _ => x.checked_rem(*y),
            };
            r.map(Val::Int)
                .ok_or_else(|| format!("{name}: integer overflow"))
        }
        _ if name == "modulo" => Err(format!("modulo: unknown type for {}", a.type_name())),
        _ => match (f(a), f(b)) {
            (Some(x), Some(y)) => Ok(Val::Float(match name {
                "add" => x + y,
                "subtract" => x - y,
                "multiply" => x * y,
                _ => {
                    if y == 0.0 {
                        return Err("divide: division by 0".into());
                    }
                    x / y
                }
            })),
            _ => {
                let bad = if f(a).is_none() { a } else { b };
                let mut s = String::new();
                print_v(bad, &mut s);
                Err(format!(
                    "{name}: unknown type for {} ({})",
                    unshown(&s),
                    bad.type_name()
                ))
            }
        },
    }
}

/// A secret from a Vault answer (`GET`/`PUT` body), as consul-template
/// builds it: `.Data` is the answer's `data`, numbers as `json.Number`.
pub(crate) fn secret_from_answer(answer: &serde_json::Value) -> Secret {
    let data = match answer.get("data") {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), Val::from_vault(v)))
            .collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    Secret {
        request_id: answer
            .get("request_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        lease_id: answer
            .get("lease_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        lease_duration: answer
            .get("lease_duration")
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        renewable: answer
            .get("renewable")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        data,
        warnings: answer
            .get("warnings")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}
