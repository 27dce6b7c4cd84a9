//! `printf` as Go's `fmt.Sprintf` does it, for the verbs templates use:
//! `%v %s %d %q %x %X %o %b %c %t %f %F %e %E %g %G %%`, the flags
//! `+ - # 0` and space, width and precision (also `*`). A verb that does
//! not fit its operand prints Go's complaint (`%!d(string=abc)`), a
//! missing operand `%!d(MISSING)`, extra operands `%!(EXTRA type=value)`.

use super::value::{format_e, format_f, format_g, print_v, Val};

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// The longest result, past which `printf` fails instead of allocating.
const MAX_WIDTH: usize = 1 << 20;

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[Val], cap: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut next = 0usize;
    let mut it = format.char_indices().peekable();
    while let Some((_, c)) = it.next() {
        if out.len() > cap {
            return Err(format!("printf: the result is larger than {cap} bytes"));
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some((_, f)) = it.peek().copied() {
            match f {
                '+' => sp.plus = true,
                '-' => sp.minus = true,
                '#' => sp.sharp = true,
                '0' => sp.zero = true,
                ' ' => sp.space = true,
                _ => break,
            }
            it.next();
        }
        let num = |it: &mut std::iter::Peekable<std::str::CharIndices>,
                   next: &mut usize|
         -> Result<Option<usize>, String> {
            if it.peek().map(|p| p.1) == Some('*') {
                it.next();
                let v = match args.get(*next) {
                    Some(Val::Int(i)) => *i,
                    _ => -1,
                };
                *next += 1;
                if !(0..=MAX_WIDTH as i64).contains(&v) {
                    return Ok(None);
                }
                return Ok(Some(v as usize));
            }
            let mut n: Option<usize> = None;
            while let Some((_, d)) = it.peek().copied() {
                let Some(dv) = d.to_digit(10) else { break };
                let v = n
                    .unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(dv as usize);
                if v > MAX_WIDTH {
                    return Err(format!(
                        "printf: a width or precision larger than {MAX_WIDTH}"
                    ));
                }
                n = Some(v);
                it.next();
            }
            Ok(n)
        };
        sp.width = num(&mut it, &mut next)?;
        if it.peek().map(|p| p.1) == Some('.') {
            it.next();
            sp.prec = Some(num(&mut it, &mut next)?.unwrap_or(0));
        }
        let Some((_, verb)) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let s = one(verb, &sp, arg);
        out.push_str(&s);
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[next..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            out.push_str(a.type_name());
            out.push('=');
            print_v(a, &mut out);
        }
        out.push(')');
    }
    if out.len() > cap {
        return Err(format!("printf: the result is larger than {cap} bytes"));
    }
    Ok(out)
}

fn bad(verb: char, v: &Val) -> String {
    let mut s = format!("%!{verb}(");
    if matches!(v, Val::Nil) {
        s.push_str("<nil>");
    } else {
        s.push_str(v.type_name());
        s.push('=');
        print_v(v, &mut s);
    }
    s.push(')');
    s
}

fn pad(s: String, sp: &Spec, numeric: bool) -> String {
    let Some(w) = sp.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if sp.minus {
        return s + &" ".repeat(fill);
    }
    if sp.zero && numeric {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s.as_str()),
        };
        return format!("{sign}{}{rest}", "0".repeat(fill));
    }
    " ".repeat(fill) + &s
}

fn sign(neg: bool, sp: &Spec, body: String) -> String {
    if neg {
        format!("-{body}")
    } else if sp.plus {
        format!("+{body}")
    } else if sp.space {
        format!(" {body}")
    } else {
        body
    }
}

fn int(verb: char, sp: &Spec, i: i64) -> Option<String> {
    let a = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => a.to_string(),
        'x' => format!("{a:x}"),
        'X' => format!("{a:X}"),
        'o' => format!("{a:o}"),
        'O' => format!("0o{a:o}"),
        'b' => format!("{a:b}"),
        'c' => return char::from_u32(i as u32).map(|c| pad(c.to_string(), sp, false)),
        'q' => return char::from_u32(i as u32).map(|c| pad(quote_char(c), sp, false)),
        'U' => format!("U+{a:04X}"),
        _ => return None,
    };
    if let Some(p) = sp.prec {
        if body.len() < p {
            body = "0".repeat(p - body.len()) + &body;
        }
        if p == 0 && i == 0 {
            body.clear();
        }
    }
    if sp.sharp {
        match verb {
            'x' => body = format!("0x{body}"),
            'X' => body = format!("0X{body}"),
            'o' if !body.starts_with('0') => body = format!("0{body}"),
            _ => {}
        }
    }
    let zero_ok = sp.prec.is_none();
    let mut spec = *sp;
    spec.zero = sp.zero && zero_ok && !sp.minus;
    Some(pad(sign(i < 0, sp, body), &spec, true))
}

fn float(verb: char, sp: &Spec, f: f64) -> Option<String> {
    let neg = f.is_sign_negative() && !f.is_nan();
    let a = f.abs();
    let body = match verb {
        'v' | 'g' => format_g(a, sp.prec, false),
        'G' => format_g(a, sp.prec, true),
        'f' | 'F' => format_f(a, sp.prec.unwrap_or(6)),
        'e' => format_e(a, sp.prec.unwrap_or(6), false),
        'E' => format_e(a, sp.prec.unwrap_or(6), true),
        _ => return None,
    };
    let body = if body == "+Inf" {
        "Inf".to_string()
    } else {
        body
    };
    let mut spec = *sp;
    spec.zero = sp.zero && !sp.minus && f.is_finite();
    Some(pad(sign(neg, sp, body), &spec, true))
}

fn string(verb: char, sp: &Spec, s: &str) -> Option<String> {
    let s = match sp.prec {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => s.chars().take(p).collect::<String>(),
        _ => s.to_string(),
    };
    let body = match verb {
        's' | 'v' => s,
        'q' => {
            if sp.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                quote(&s)
            }
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (k, b) in s.bytes().enumerate() {
                if sp.space && k > 0 {
                    h.push(' ');
                }
                if sp.sharp && (sp.space || k == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            h
        }
        _ => return None,
    };
    Some(pad(body, sp, false))
}

/// One operand under one verb.
fn one(verb: char, sp: &Spec, v: &Val) -> String {
    let r = match v {
        Val::Nil => match verb {
            'v' | 's' => Some(pad("<nil>".into(), sp, false)).filter(|_| verb == 'v'),
            _ => None,
        },
        Val::Bool(b) => matches!(verb, 't' | 'v').then(|| pad(b.to_string(), sp, false)),
        Val::Int(i) => int(verb, sp, *i),
        Val::Float(f) => float(verb, sp, *f),
        Val::Str(s) | Val::Number(s) => string(verb, sp, s),
        Val::List(items, _) => {
            // Go applies the verb to each element.
            let mut out = String::from("[");
            for (k, x) in items.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                let inner = Spec {
                    width: sp.width,
                    ..Spec::default()
                };
                out.push_str(&one(verb, &inner, x));
            }
            out.push(']');
            Some(out)
        }
        Val::Map(m) => {
            let mut out = String::from("map[");
            for (k, (key, x)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                out.push_str(&one(verb, &Spec::default(), &Val::Str(key.clone())));
                out.push(':');
                out.push_str(&one(verb, &Spec::default(), x));
            }
            out.push(']');
            Some(out)
        }
        Val::Secret(_) => {
            let mut s = String::new();
            print_v(v, &mut s);
            Some(s)
        }
    };
    r.unwrap_or_else(|| bad(verb, v))
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_escaped(c, &mut out),
        }
    }
    out.push('"');
    out
}

fn quote_char(c: char) -> String {
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        '\\' => out.push_str("\\\\"),
        c => push_escaped(c, &mut out),
    }
    out.push('\'');
    out
}

fn push_escaped(c: char, out: &mut String) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || c == '\u{feff}' => {
            if (c as u32) < 0x10000 {
                out.push_str(&format!("\\u{:04x}", c as u32))
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32))
            }
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(f: &str, args: &[Val]) -> String {
        sprintf(f, args, 1 << 20).unwrap()
    }

    #[test]
    fn verbs_as_go_prints_them() {
        assert_eq!(
            p("%s-%d-%v", &[Val::str("a"), Val::Int(-5), Val::Float(1.5)]),
            "a--5-1.5"
        );
        assert_eq!(
            p(
                "%05d|%-4d|%+d|%x|%X|%o|%b",
                &[
                    Val::Int(42),
                    Val::Int(7),
                    Val::Int(3),
                    Val::Int(255),
                    Val::Int(255),
                    Val::Int(8),
                    Val::Int(5)
                ]
            ),
            "00042|7   |+3|ff|FF|10|101"
        );
        assert_eq!(p("%q", &[Val::str("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(
            p(
                "%.2f|%8.3f|%e|%g",
                &[
                    Val::Float(3.14259),
                    Val::Float(2.5),
                    Val::Float(1234.5),
                    Val::Float(1e6)
                ]
            ),
            "3.14|   2.500|1.234500e+03|1e+06"
        );
        assert_eq!(p("%x", &[Val::str("hi")]), "6869");
        assert_eq!(p("%t %v", &[Val::Bool(true), Val::Nil]), "true <nil>");
        assert_eq!(
            p(
                "%5s|%-5s|%.2s",
                &[Val::str("ab"), Val::str("ab"), Val::str("abc")]
            ),
            "   ab|ab   |ab"
        );
        assert_eq!(p("%c", &[Val::Int(65)]), "A");
        assert_eq!(p("100%%", &[]), "100%");
    }

    #[test]
    fn go_complaints() {
        assert_eq!(p("%d", &[Val::str("x")]), "%!d(string=x)");
        assert_eq!(p("%d", &[Val::Number("5".into())]), "%!d(json.Number=5)");
        assert_eq!(p("%s", &[Val::Int(3)]), "%!s(int=3)");
        assert_eq!(p("%d %d", &[Val::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            p("%d", &[Val::Int(1), Val::str("x")]),
            "1%!(EXTRA string=x)"
        );
        assert_eq!(p("%s", &[Val::Nil]), "%!s(<nil>)");
        assert!(sprintf("%999999999d", &[Val::Int(1)], 1 << 20).is_err());
        assert!(sprintf("%100d", &[Val::Int(1)], 50).is_err());
    }
}
