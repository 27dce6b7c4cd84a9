//! The lexer: text and actions, as Go's `text/template` splits them.
//!
//! Text runs up to the left delimiter. `{{- ` (the marker, then a space,
//! tab, CR or newline) trims the white space before it, ` -}}` the white
//! space after it. `{{/* ... */}}` is a comment (it must sit right inside
//! the delimiters, trim markers allowed). Inside an action the tokens are
//! Go's: identifiers and keywords, `.Field`s, `$variables`, strings
//! (`"..."` with Go escapes, `` `raw` ``), characters (`'a'`), numbers,
//! `(`, `)`, `|`, `:=`, `=`, `,` and spaces.

use super::TemplateError;

/// A token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Text outside actions (already trimmed).
    Text(String),
    /// The start of an action.
    Open,
    /// The end of an action.
    Close,
    /// White space inside an action.
    Space,
    /// A name: a function, a keyword, `true`, `false`, `nil`.
    Ident(String),
    /// `.Name` (the name alone).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$name` (with the `$`), or `$`.
    Var(String),
    /// A string literal, decoded.
    Str(String),
    /// A number literal, as written.
    Number(String),
    /// A character literal's value.
    Char(char),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `|`.
    Pipe,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
}

/// A token and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn has_left_trim(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(s[1])
}

fn has_right_trim(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(s[0]) && s[1] == b'-'
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Split `text` into tokens.
pub(crate) fn lex(
    name: &str,
    text: &str,
    left: &str,
    right: &str,
) -> Result<Vec<Token>, TemplateError> {
    let s = text.as_bytes();
    let (l, r) = (left.as_bytes(), right.as_bytes());
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut line = 1u32;
    let err = |line: u32, msg: String| TemplateError::parse(name, line, msg);
    let starts = |i: usize, p: &[u8]| s.len() >= i + p.len() && &s[i..i + p.len()] == p;
    // After a right trim marker, the next text loses its leading space.
    let mut trim_next = false;
    loop {
        // Text.
        let at = find(s, i, l);
        let end = at.unwrap_or(s.len());
        let mut text_end = end;
        if let Some(a) = at {
            if has_left_trim(&s[a + l.len()..]) {
                while text_end > i && is_space(s[text_end - 1]) {
                    text_end -= 1;
                }
            }
        }
        let mut text_start = i;
        if trim_next {
            while text_start < text_end && is_space(s[text_start]) {
                text_start += 1;
            }
            trim_next = false;
        }
        if text_start < text_end {
            out.push(Token {
                tok: Tok::Text(text[text_start..text_end].to_string()),
                line: line + count_lines(&s[i..text_start]),
            });
        }
        line += count_lines(&s[i..end]);
        let Some(a) = at else {
            return Ok(out);
        };
        i = a + l.len();
        let trimmed = has_left_trim(&s[i..]);
        if trimmed {
            i += 2;
        }
        // A comment.
        if starts(i, b"/*") {
            let start_line = line;
            let Some(e) = find(s, i + 2, b"*/") else {
                return Err(err(start_line, "unclosed comment".into()));
            };
            line += count_lines(&s[i..e]);
            i = e + 2;
            if has_right_trim(&s[i..]) && starts(i + 2, r) {
                i += 2 + r.len();
                trim_next = true;
            } else if starts(i, r) {
                i += r.len();
            } else {
                return Err(err(line, "comment ends before closing delimiter".into()));
            }
            continue;
        }
        out.push(Token {
            tok: Tok::Open,
            line,
        });
        // Inside the action.
        let mut depth = 0i32;
        loop {
            if has_right_trim(&s[i..]) && starts(i + 2, r) || starts(i, r) {
                if depth > 0 {
                    return Err(err(line, "unclosed left paren".into()));
                }
                if starts(i, r) {
                    i += r.len();
                } else {
                    i += 2 + r.len();
                    trim_next = true;
                }
                out.push(Token {
                    tok: Tok::Close,
                    line,
                });
                break;
            }
            let Some(c) = text[i..].chars().next() else {
                return Err(err(line, "unclosed action".into()));
            };
            let tline = line;
            let push = |out: &mut Vec<Token>, tok: Tok| out.push(Token { tok, line: tline });
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while i < s.len() && is_space(s[i]) {
                        // A space that belongs to a ` -}}` ends the run.
                        if has_right_trim(&s[i..]) && starts(i + 2, r) {
                            break;
                        }
                        if s[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    push(&mut out, Tok::Space);
                }
                '=' => {
                    i += 1;
                    push(&mut out, Tok::Assign);
                }
                ':' => {
                    if !starts(i, b":=") {
                        return Err(err(line, "expected :=".into()));
                    }
                    i += 2;
                    push(&mut out, Tok::Declare);
                }
                '|' => {
                    i += 1;
                    push(&mut out, Tok::Pipe);
                }
                ',' => {
                    i += 1;
                    push(&mut out, Tok::Comma);
                }
                '(' => {
                    i += 1;
                    depth += 1;
                    push(&mut out, Tok::LParen);
                }
                ')' => {
                    i += 1;
                    depth -= 1;
                    if depth < 0 {
                        return Err(err(line, "unexpected right paren".into()));
                    }
                    push(&mut out, Tok::RParen);
                }
                '"' => {
                    let (v, n) = quoted(&text[i..]).ok_or_else(|| {
                        err(line, "unterminated or malformed quoted string".into())
                    })?;
                    i += n;
                    push(&mut out, Tok::Str(v));
                }
                '`' => {
                    let Some(e) = text[i + 1..].find('`') else {
                        return Err(err(line, "unterminated raw quoted string".into()));
                    };
                    let v = &text[i + 1..i + 1 + e];
                    line += count_lines(v.as_bytes());
                    i += e + 2;
                    push(&mut out, Tok::Str(v.to_string()));
                }
                '\'' => {
                    let (v, n) = char_lit(&text[i..])
                        .ok_or_else(|| err(line, "malformed character constant".into()))?;
                    i += n;
                    push(&mut out, Tok::Char(v));
                }
                '$' => {
                    let n = text[i + 1..]
                        .char_indices()
                        .find(|(_, c)| !is_alnum(*c))
                        .map(|(k, _)| k)
                        .unwrap_or(text.len() - i - 1);
                    let v = text[i..i + 1 + n].to_string();
                    i += 1 + n;
                    push(&mut out, Tok::Var(v));
                    terminator(&text[i..], r, line, name)?;
                }
                '.' if !s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    let n = text[i + 1..]
                        .char_indices()
                        .find(|(_, c)| !is_alnum(*c))
                        .map(|(k, _)| k)
                        .unwrap_or(text.len() - i - 1);
                    if n == 0 {
                        push(&mut out, Tok::Dot);
                    } else {
                        push(&mut out, Tok::Field(text[i + 1..i + 1 + n].to_string()));
                    }
                    i += 1 + n;
                    terminator(&text[i..], r, line, name)?;
                }
                c if c == '.' || c == '+' || c == '-' || c.is_ascii_digit() => {
                    let n = number_len(&s[i..]);
                    if n == 0 {
                        return Err(err(line, format!("bad number syntax: {c:?}")));
                    }
                    push(&mut out, Tok::Number(text[i..i + n].to_string()));
                    i += n;
                    if let Some(next) = text[i..].chars().next().filter(|c| is_alnum(*c)) {
                        return Err(err(
                            line,
                            format!(
                                "bad number syntax: {:?}",
                                format!("{}{next}", &text[i - n..i])
                            ),
                        ));
                    }
                }
                c if is_alnum(c) => {
                    let n = text[i..]
                        .char_indices()
                        .find(|(_, c)| !is_alnum(*c))
                        .map(|(k, _)| k)
                        .unwrap_or(text.len() - i);
                    push(&mut out, Tok::Ident(text[i..i + n].to_string()));
                    i += n;
                    terminator(&text[i..], r, line, name)?;
                }
                c => {
                    return Err(err(
                        line,
                        format!("unrecognized character in action: {c:?}"),
                    ))
                }
            }
        }
    }
}

/// After a name, only these may follow (Go's `atTerminator`).
fn terminator(rest: &str, right: &[u8], line: u32, name: &str) -> Result<(), TemplateError> {
    let b = rest.as_bytes();
    match b.first() {
        None => Ok(()),
        Some(c) if is_space(*c) || matches!(c, b'.' | b',' | b'|' | b':' | b')' | b'(') => Ok(()),
        _ if b.starts_with(right) => Ok(()),
        Some(_) => {
            let c = rest.chars().next().unwrap_or('?');
            Err(TemplateError::parse(
                name,
                line,
                format!("bad character {c:?}"),
            ))
        }
    }
}

fn find(s: &[u8], from: usize, p: &[u8]) -> Option<usize> {
    if p.is_empty() || from > s.len() {
        return None;
    }
    s[from..]
        .windows(p.len())
        .position(|w| w == p)
        .map(|k| k + from)
}

fn count_lines(s: &[u8]) -> u32 {
    s.iter().filter(|b| **b == b'\n').count() as u32
}

/// The length of a number literal as Go's lexer scans it.
fn number_len(s: &[u8]) -> usize {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut digits: &dyn Fn(u8) -> bool = &|b: u8| b.is_ascii_digit() || b == b'_';
    let mut exp = [b'e', b'E'];
    if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        digits = &|b: u8| b.is_ascii_hexdigit() || b == b'_';
        exp = [b'p', b'P'];
    } else if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'o' | b'O')) {
        i += 2;
        digits = &|b: u8| (b'0'..=b'7').contains(&b) || b == b'_';
    } else if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'b' | b'B')) {
        i += 2;
        digits = &|b: u8| b == b'0' || b == b'1' || b == b'_';
    }
    let start = i;
    while s.get(i).is_some_and(|b| digits(*b)) {
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while s.get(i).is_some_and(|b| digits(*b)) {
            i += 1;
        }
    }
    if i == start || (i == start + 1 && s[start] == b'.') {
        return 0;
    }
    if s.get(i).is_some_and(|b| exp.contains(b)) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        while s.get(i).is_some_and(|b| b.is_ascii_digit() || *b == b'_') {
            i += 1;
        }
    }
    i
}

/// A Go interpreted string at the start of `s` (which starts with `"`):
/// its value and length.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((k, c)) = it.next() {
        match c {
            '"' => return Some((out, k + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = it.next()?;
                out.push(escape(e, &mut it, '"')?);
            }
            c => out.push(c),
        }
    }
    None
}

fn char_lit(s: &str) -> Option<(char, usize)> {
    let mut it = s.char_indices().skip(1);
    let (_, c) = it.next()?;
    let v = match c {
        '\\' => {
            let (_, e) = it.next()?;
            escape(e, &mut it, '\'')?
        }
        '\'' | '\n' => return None,
        c => c,
    };
    let (k, q) = it.next()?;
    (q == '\'').then_some((v, k + 1))
}

fn escape(e: char, it: &mut impl Iterator<Item = (usize, char)>, quote: char) -> Option<char> {
    let mut hex = |n: usize, radix: u32, first: Option<char>| -> Option<char> {
        let mut v: u32 = first.and_then(|c| c.to_digit(radix)).unwrap_or(0);
        let n = if first.is_some() { n - 1 } else { n };
        for _ in 0..n {
            let (_, d) = it.next()?;
            v = v.checked_mul(radix)?.checked_add(d.to_digit(radix)?)?;
        }
        if radix == 8 && v > 255 {
            return None;
        }
        char::from_u32(v)
    };
    Some(match e {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        c if c == quote => c,
        'x' => hex(2, 16, None)?,
        'u' => hex(4, 16, None)?,
        'U' => hex(8, 16, None)?,
        '0'..='7' => hex(3, 8, Some(e))?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex("t", s, "{{", "}}")
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn text_actions_and_trimming() {
        use Tok::*;
        assert_eq!(
            toks("a {{- .X -}} \n b"),
            [
                Text("a".into()),
                Open,
                Field("X".into()),
                Close,
                Text("b".into())
            ]
        );
        assert_eq!(
            toks("a {{-3}}"),
            [Text("a ".into()), Open, Number("-3".into()), Close]
        );
        assert_eq!(
            toks("x {{- /* c */ -}} y"),
            [Text("x".into()), Text("y".into())]
        );
        assert_eq!(
            toks(r#"{{$x := "a\tb" | f `r\n` 'c' (1.5e3)}}"#),
            [
                Open,
                Var("$x".into()),
                Space,
                Declare,
                Space,
                Str("a\tb".into()),
                Space,
                Pipe,
                Space,
                Ident("f".into()),
                Space,
                Str("r\\n".into()),
                Space,
                Char('c'),
                Space,
                LParen,
                Number("1.5e3".into()),
                RParen,
                Close
            ]
        );
        let t = lex("t", "[[ .A ]]{{x}}", "[[", "]]").unwrap();
        assert_eq!(t[2].tok, Field("A".into()));
        assert_eq!(t.last().unwrap().tok, Text("{{x}}".into()));
    }

    #[test]
    fn errors() {
        for (s, want) in [
            ("{{ .A", "unclosed action"),
            ("{{ (1 }}", "unclosed left paren"),
            ("{{ ) }}", "unexpected right paren"),
            ("{{ \"a }}", "quoted string"),
            ("{{/* x }}", "unclosed comment"),
            ("{{/* x */ 1}}", "comment ends"),
            ("{{ a: }}", ":="),
            ("{{ .A# }}", "bad character"),
            ("{{ 3x }}", "bad number"),
            ("{{ 3é }}", "bad number"),
            ("{{ @ }}", "unrecognized"),
        ] {
            let e = lex("t", s, "{{", "}}").unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
