//! An owned reader for the HCL that Vault and OpenBao Agent configuration
//! files are written in.
//!
//! Vault and OpenBao read their configuration with HCL version 1 (the
//! `hashicorp/hcl` v1 parser, not HCL2's expression language), so that is
//! the grammar here:
//!
//! - a file is a body: a sequence of entries, each `key = value` or
//!   `key "label" ... { body }` (a block; `key = { body }` is the same);
//!   keys are identifiers (letters, digits, `_`, `-`, `.`) or quoted
//!   strings; entries may be separated by newlines or commas;
//! - values: strings `"..."` with the escapes `\n \t \r \a \b \f \v \\ \"`,
//!   `\xHH`, `\uXXXX`, `\UXXXXXXXX` and octal `\NNN` (`${...}` is kept as
//!   text: HCL 1 does not interpolate); heredocs `<<EOF` ... `EOF` and
//!   `<<-EOF` (the closing marker's indentation is taken off every line);
//!   integers (decimal, `0x` hex, leading-`0` octal), floats, `true`,
//!   `false`, lists `[a, b,]`, objects `{ k = v }`;
//! - comments `#`, `//` to the end of the line and `/* ... */`.
//!
//! Input is capped at [`MAX_HCL_BYTES`] and nesting at [`MAX_DEPTH`];
//! every error names the line and column it was found at. The reader only
//! builds a tree ([`Body`]): what the entries mean is `hcl_config`'s job.

use std::fmt;

/// The largest configuration read (bytes).
pub(crate) const MAX_HCL_BYTES: usize = 1 << 20;

/// The deepest nesting of blocks, objects and lists.
pub const MAX_DEPTH: usize = 32;

/// A position in the input, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column (in characters).
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub value: Value,
}

/// An HCL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (quoted or heredoc).
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `[...]`.
    List(Vec<Node>),
    /// `{...}` or a block's body.
    Object(Body),
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::List(_) => "a list",
            Value::Object(_) => "a block",
        }
    }
}

/// One `key = value` or `key "label" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// A block's labels (`method "approle"`: `["approle"]`).
    pub labels: Vec<String>,
    /// Where the key is.
    pub pos: Pos,
    /// The value (a block's is an object).
    pub value: Node,
}

/// A sequence of entries, in input order (keys may repeat).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// A reading error: what and where.
#[derive(Debug, Clone, PartialEq)]
pub struct HclError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub msg: String,
}

impl fmt::Display for HclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.msg)
    }
}

type R<T> = std::result::Result<T, HclError>;

/// Read a whole file. Never panics.
pub fn parse(text: &str) -> R<Body> {
    if text.len() > MAX_HCL_BYTES {
        return Err(HclError {
            pos: Pos { line: 1, col: 1 },
            msg: format!("the configuration is larger than {MAX_HCL_BYTES} bytes"),
        });
    }
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        col: 1,
    };
    let body = p.body(0, false)?;
    Ok(body)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    line: u32,
    col: u32,
}

impl<'a> Parser<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(HclError {
            pos: self.pos(),
            msg: msg.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    /// Advance one character (UTF-8 aware for the column).
    fn bump(&mut self) -> Option<char> {
        let c = self.text.get(self.i..)?.chars().next()?;
        self.i += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Skip spaces and comments; newlines too when `newlines`. Returns
    /// whether a newline was skipped.
    fn skip(&mut self, newlines: bool) -> R<bool> {
        let mut saw = false;
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r') => {
                    self.bump();
                }
                Some(b'\n') if newlines => {
                    saw = true;
                    self.bump();
                }
                Some(b'#') => self.line_comment(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.line_comment(),
                Some(b'/') if self.peek_at(1) == Some(b'*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.peek() {
                            None => {
                                return Err(HclError {
                                    pos: start,
                                    msg: "a /* comment is not closed".into(),
                                })
                            }
                            Some(b'*') if self.peek_at(1) == Some(b'/') => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            _ => {
                                self.bump();
                            }
                        }
                    }
                }
                _ => return Ok(saw),
            }
        }
    }

    fn line_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.bump();
        }
    }

    /// A body: entries until the end (top level) or a `}`.
    fn body(&mut self, depth: usize, nested: bool) -> R<Body> {
        if depth > MAX_DEPTH {
            return self.err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let mut body = Body::default();
        loop {
            self.skip(true)?;
            match self.peek() {
                None if nested => return self.err("a block is not closed: `}` expected"),
                None => return Ok(body),
                Some(b'}') if nested => {
                    self.bump();
                    return Ok(body);
                }
                Some(b',') if !body.entries.is_empty() => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let entry = self.entry(depth)?;
            body.entries.push(entry);
            // After an entry: a newline, a comma, a comment, or the end.
            let newline = self.skip(false)?;
            match self.peek() {
                None | Some(b'\n' | b',') => {}
                Some(b'}') if nested => {}
                Some(_) if newline => {}
                Some(_) => {
                    let c = self.text[self.i..].chars().next().unwrap_or('?');
                    return self.err(format!(
                        "unexpected {c:?} after an entry: entries are separated by newlines"
                    ));
                }
            }
        }
    }

    fn key(&mut self) -> R<String> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => Ok(self.ident()),
            Some(_) => {
                let c = self.text[self.i..].chars().next().unwrap_or('?');
                self.err(format!(
                    "a key (a name or a quoted string) expected, found {c:?}"
                ))
            }
            None => self.err("a key expected, found the end of the file"),
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':') {
                self.bump();
            } else {
                break;
            }
        }
        self.text[start..self.i].to_string()
    }

    fn entry(&mut self, depth: usize) -> R<Entry> {
        let pos = self.pos();
        let key = self.key()?;
        let mut labels = Vec::new();
        loop {
            self.skip(false)?;
            match self.peek() {
                Some(b'=') => {
                    if !labels.is_empty() {
                        return self.err(format!(
                            "`{key}` with labels is a block: `{{` expected, not `=`"
                        ));
                    }
                    self.bump();
                    self.skip(false)?;
                    let value = self.value(depth + 1)?;
                    return Ok(Entry {
                        key,
                        labels,
                        pos,
                        value,
                    });
                }
                Some(b'{') => {
                    let vpos = self.pos();
                    self.bump();
                    let body = self.body(depth + 1, true)?;
                    return Ok(Entry {
                        key,
                        labels,
                        pos,
                        value: Node {
                            pos: vpos,
                            value: Value::Object(body),
                        },
                    });
                }
                Some(b'"') => labels.push(self.quoted()?),
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => labels.push(self.ident()),
                _ => return self.err(format!("`=` or `{{` expected after `{key}`")),
            }
            if labels.len() > 8 {
                return self.err(format!("`{key}` has more than 8 labels"));
            }
        }
    }

    fn value(&mut self, depth: usize) -> R<Node> {
        if depth > MAX_DEPTH {
            return self.err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let pos = self.pos();
        let value = match self.peek() {
            Some(b'"') => Value::Str(self.quoted()?),
            Some(b'<') if self.peek_at(1) == Some(b'<') => Value::Str(self.heredoc()?),
            Some(b'[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip(true)?;
                    if self.peek() == Some(b']') {
                        self.bump();
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    self.skip(true)?;
                    match self.peek() {
                        Some(b',') => {
                            self.bump();
                        }
                        Some(b']') => {}
                        None => return self.err("a list is not closed: `]` expected"),
                        Some(_) => return self.err("`,` or `]` expected in a list"),
                    }
                }
                Value::List(items)
            }
            Some(b'{') => {
                self.bump();
                Value::Object(self.body(depth + 1, true)?)
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => self.number()?,
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.ident();
                match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => {
                        return Err(HclError {
                            pos,
                            msg: format!(
                                "`{word}` is not a value: strings are quoted (\"{word}\")"
                            ),
                        })
                    }
                }
            }
            None => return self.err("a value expected, found the end of the file"),
            Some(_) => {
                let c = self.text[self.i..].chars().next().unwrap_or('?');
                return self.err(format!("a value expected, found {c:?}"));
            }
        };
        Ok(Node { pos, value })
    }

    fn number(&mut self) -> R<Value> {
        let pos = self.pos();
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.bump();
        }
        while let Some(c) = self.peek() {
            let exponent_sign = matches!(c, b'-' | b'+')
                && matches!(self.s.get(self.i - 1), Some(b'e' | b'E'))
                && !self.text[start..self.i].contains(['x', 'X']);
            if !(c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign) {
                break;
            }
            self.bump();
        }
        let t = &self.text[start..self.i];
        let bad = || HclError {
            pos,
            msg: format!("{t:?} is not a number"),
        };
        let (neg, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let int = if let Some(h) = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            i64::from_str_radix(h, 16).ok()
        } else if digits.len() > 1
            && digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            i64::from_str_radix(&digits[1..], 8).ok()
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<i64>().ok()
        } else {
            None
        };
        if let Some(n) = int {
            return Ok(Value::Int(if neg { -n } else { n }));
        }
        let ok_float = !digits.is_empty()
            && digits.as_bytes()[0].is_ascii_digit()
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
        match t.parse::<f64>() {
            Ok(f) if ok_float && f.is_finite() => Ok(Value::Float(f)),
            _ => Err(bad()),
        }
    }

    /// A quoted string, escapes decoded.
    fn quoted(&mut self) -> R<String> {
        let start = self.pos();
        self.bump(); // "
        let mut out = String::new();
        // Braces of `${ ... }` are kept, and inside them a quote does not
        // end the string (HCL 1 keeps interpolations as text).
        let mut braces = 0usize;
        loop {
            let Some(c) = self.bump() else {
                return Err(HclError {
                    pos: start,
                    msg: "a string is not closed: `\"` expected".into(),
                });
            };
            match c {
                '"' if braces == 0 => return Ok(out),
                '\n' if braces == 0 => {
                    return Err(HclError {
                        pos: start,
                        msg: "a string is not closed on its line (use a heredoc, <<EOF, for several lines)"
                            .into(),
                    })
                }
                '$' if self.peek() == Some(b'{') => {
                    out.push('$');
                    out.push('{');
                    self.bump();
                    braces += 1;
                }
                '{' if braces > 0 => {
                    out.push(c);
                    braces += 1;
                }
                '}' if braces > 0 => {
                    out.push(c);
                    braces -= 1;
                }
                '\\' => {
                    let epos = self.pos();
                    let Some(e) = self.bump() else {
                        return Err(HclError {
                            pos: start,
                            msg: "a string is not closed: `\"` expected".into(),
                        });
                    };
                    let simple = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' => Some('\u{7}'),
                        'b' => Some('\u{8}'),
                        'f' => Some('\u{c}'),
                        'v' => Some('\u{b}'),
                        '\\' => Some('\\'),
                        '"' => Some('"'),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        out.push(s);
                        continue;
                    }
                    let (radix, len) = match e {
                        'x' => (16, 2),
                        'u' => (16, 4),
                        'U' => (16, 8),
                        '0'..='7' => (8, 2),
                        _ => {
                            return Err(HclError {
                                pos: epos,
                                msg: format!("unknown escape \\{e} in a string"),
                            })
                        }
                    };
                    let mut digits = String::new();
                    if radix == 8 {
                        digits.push(e);
                    }
                    for _ in 0..len {
                        match self.peek() {
                            Some(d) if (d as char).is_digit(radix) => {
                                digits.push(d as char);
                                self.bump();
                            }
                            _ => {
                                return Err(HclError {
                                    pos: epos,
                                    msg: format!("escape \\{e} needs more digits"),
                                })
                            }
                        }
                    }
                    let n = u32::from_str_radix(&digits, radix).unwrap_or(u32::MAX);
                    match char::from_u32(n) {
                        Some(ch) if !(radix == 8 && n > 255) => out.push(ch),
                        _ => {
                            return Err(HclError {
                                pos: epos,
                                msg: format!("escape \\{e}{} is not a character", &digits),
                            })
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    /// `<<EOF` or `<<-EOF` up to a line holding only the marker.
    fn heredoc(&mut self) -> R<String> {
        let start = self.pos();
        self.bump();
        self.bump();
        let indent = if self.peek() == Some(b'-') {
            self.bump();
            true
        } else {
            false
        };
        let mstart = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.bump();
            } else {
                break;
            }
        }
        let marker = self.text[mstart..self.i].to_string();
        if marker.is_empty() {
            return self.err("a heredoc needs a marker: <<EOF");
        }
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.bump();
        }
        if self.peek() != Some(b'\n') {
            return self.err(format!("the heredoc marker <<{marker} must end its line"));
        }
        self.bump();
        let mut lines: Vec<&str> = Vec::new();
        loop {
            if self.i >= self.s.len() {
                return Err(HclError {
                    pos: start,
                    msg: format!("the heredoc <<{marker} is not closed by a line `{marker}`"),
                });
            }
            let rest = &self.text[self.i..];
            let end = rest.find('\n').unwrap_or(rest.len());
            let line = &rest[..end];
            let bare = line.strip_suffix('\r').unwrap_or(line);
            let closes = if indent {
                bare.trim_start_matches([' ', '\t']) == marker
            } else {
                bare == marker
            };
            if closes {
                // Leave the position after the marker (the newline stays).
                for _ in 0..bare.chars().count() {
                    self.bump();
                }
                if line.len() > bare.len() {
                    self.bump();
                }
                let prefix = &bare[..bare.len() - marker.len()];
                return Ok(join_heredoc(&lines, indent.then_some(prefix)));
            }
            lines.push(line);
            for _ in 0..line.chars().count() {
                self.bump();
            }
            if self.peek() == Some(b'\n') {
                self.bump();
            }
        }
    }
}

/// The heredoc's value: every line with its newline; with `<<-`, the
/// closing marker's indentation taken off each line when every line has it.
fn join_heredoc(lines: &[&str], prefix: Option<&str>) -> String {
    let strip = prefix.filter(|p| lines.iter().all(|l| l.starts_with(p)));
    let mut out = String::new();
    for l in lines {
        match strip {
            Some(p) => out.push_str(&l[p.len()..]),
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        let b = parse(text).unwrap();
        assert_eq!(b.entries.len(), 1, "{b:?}");
        b.entries.into_iter().next().unwrap().value.value
    }

    #[test]
    fn blocks_labels_and_attributes() {
        let b = parse(
            r#"
# comment
pid_file = "./pidfile"   // trailing
vault {
  address = "http://127.0.0.1:8200"
  tls_skip_verify = true
}
auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path = "role"
      remove_secret_id_file_after_reading = false
    }
  }
  /* block
     comment */
  sink "file" { config = { path = "/tmp/t", mode = 0640 } }
}
template {
  contents = "{{ with secret \"secret/data/x\" }}{{ .Data.data.a }}{{ end }}"
  destination = "out"
}
"#,
        )
        .unwrap();
        let keys: Vec<_> = b.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["pid_file", "vault", "auto_auth", "template"]);
        assert_eq!(b.entries[1].pos, Pos { line: 4, col: 1 });
        let Value::Object(aa) = &b.entries[2].value.value else {
            panic!()
        };
        assert_eq!(aa.entries[0].labels, ["approle"]);
        assert_eq!(aa.entries[1].labels, ["file"]);
        let Value::Object(sink) = &aa.entries[1].value.value else {
            panic!()
        };
        let Value::Object(cfg) = &sink.entries[0].value.value else {
            panic!()
        };
        assert_eq!(cfg.entries[1].value.value, Value::Int(0o640));
        let Value::Object(t) = &b.entries[3].value.value else {
            panic!()
        };
        assert_eq!(
            t.entries[0].value.value,
            Value::Str("{{ with secret \"secret/data/x\" }}{{ .Data.data.a }}{{ end }}".into())
        );
    }

    #[test]
    fn strings_numbers_lists() {
        assert_eq!(
            one(r#"a = "x\ty\\\"\u00e9\x41\101""#),
            Value::Str("x\ty\\\"éAA".into())
        );
        assert_eq!(
            one(r#"a = "${var.x} and ${"q"}""#),
            Value::Str("${var.x} and ${\"q\"}".into())
        );
        assert_eq!(one("a = 12"), Value::Int(12));
        assert_eq!(one("a = -0x1f"), Value::Int(-31));
        assert_eq!(one("a = 0644"), Value::Int(420));
        assert_eq!(one("a = 1.5e3"), Value::Float(1500.0));
        assert_eq!(one("a = false"), Value::Bool(false));
        let Value::List(l) = one("a = [\"x\",\n 2, [true],\n]") else {
            panic!()
        };
        assert_eq!(l.len(), 3);
        assert_eq!(one("a = []"), Value::List(vec![]));
    }

    #[test]
    fn heredocs() {
        assert_eq!(
            one("a = <<EOF\nx\n  y\nEOF\n"),
            Value::Str("x\n  y\n".into())
        );
        assert_eq!(
            one("a = <<-EOT\n    x\n      y\n    EOT\n"),
            Value::Str("x\n  y\n".into())
        );
        // A line less indented than the marker: nothing is taken off.
        assert_eq!(
            one("a = <<-EOT\n    x\n  y\n    EOT"),
            Value::Str("    x\n  y\n".into())
        );
        assert_eq!(one("a = <<EOF\nEOF"), Value::Str(String::new()));
        let e = parse("a = <<EOF\nx\n").unwrap_err();
        assert!(e.msg.contains("not closed") && e.pos.line == 1, "{e}");
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases: &[(&str, u32, u32, &str)] = &[
            ("a = \"x", 1, 5, "not closed"),
            ("\n\nvault {\n  address = http\n}", 4, 13, "quoted"),
            ("a = 1 b = 2", 1, 7, "separated"),
            ("a = \"\\q\"", 1, 7, "escape"),
            ("vault {\n a = 1\n", 3, 1, "not closed"),
            ("a = [1 2]", 1, 8, "`,` or `]`"),
            ("/* x", 1, 1, "comment"),
            ("= 3", 1, 1, "key"),
            ("a = 1x", 1, 5, "not a number"),
            ("m \"x\" = 1", 1, 7, "block"),
        ];
        for (text, line, col, what) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!((e.pos.line, e.pos.col), (*line, *col), "{text:?}: {e}");
            assert!(e.msg.contains(what), "{text:?}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("line {line}, column {col}")));
        }
    }

    #[test]
    fn caps() {
        let deep = "a = ".to_string() + &"[".repeat(100) + &"]".repeat(100);
        assert!(parse(&deep).unwrap_err().msg.contains("deeper"));
        let deep = "a { ".repeat(100) + &"}".repeat(100);
        assert!(parse(&deep).unwrap_err().msg.contains("deeper"));
        let big = "#".repeat(MAX_HCL_BYTES + 1);
        assert!(parse(&big).unwrap_err().msg.contains("larger"));
    }
}
