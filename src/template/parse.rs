//! The parser: tokens to a tree, with Go's rules: `if`/`else if`/`else`,
//! `range` (with `break`/`continue`), `with`/`else with`, `define`,
//! `template`, `block`; pipelines of commands joined by `|`; variables
//! declared (`:=`) before use and scoped to their control structure; and
//! every function name known at parse time.

use std::collections::BTreeMap;

use super::lex::{Tok, Token};
use super::{TemplateError, MAX_NESTING};

/// A list of nodes.
pub(crate) type List = Vec<Node>;

/// A node of the tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Text, copied out.
    Text(String),
    /// `{{ pipeline }}`: printed unless it declares or assigns.
    Action(Pipe),
    /// `if`, `range`, `with`.
    Branch {
        /// Which.
        kind: BranchKind,
        /// The condition or value.
        pipe: Pipe,
        /// The body.
        list: List,
        /// The `else` part.
        else_list: Option<List>,
    },
    /// `{{ template "name" pipeline }}`.
    Template {
        /// Its name.
        name: String,
        /// The dot it gets.
        pipe: Option<Pipe>,
        /// Where.
        line: u32,
    },
    /// `{{ break }}`.
    Break,
    /// `{{ continue }}`.
    Continue,
}

/// `if`, `range` or `with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchKind {
    If,
    Range,
    With,
}

/// A pipeline: optional variables, then commands.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    /// Where it is.
    pub line: u32,
    /// `$x = ...` (assign) rather than `$x := ...`.
    pub assign: bool,
    /// The variables declared or assigned.
    pub decl: Vec<String>,
    /// The commands.
    pub cmds: Vec<Cmd>,
    /// Its text, for error messages.
    pub text: String,
}

/// A command: operands, the first of which may be a function.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B` (on dot).
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    /// `.`.
    Dot,
    /// `nil`.
    Nil,
    /// `true`, `false`.
    Bool(bool),
    /// A number literal.
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// A string literal.
    Str(String),
    /// A function's name.
    Func(String),
    /// `( pipeline ).A.B`.
    Pipe(Box<Pipe>, Vec<String>),
}

/// A parsed template set: the main tree and the named ones.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub main: List,
    pub defines: BTreeMap<String, List>,
}

/// Parse tokens. `known` tells whether a function name exists.
pub(crate) fn parse(
    name: &str,
    toks: Vec<Token>,
    known: &dyn Fn(&str) -> bool,
) -> Result<Tree, TemplateError> {
    let mut p = Parser {
        name,
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        known,
        depth: 0,
        range_depth: 0,
        tree: Tree::default(),
    };
    let (main, end) = p.list(true)?;
    if let Some(e) = end {
        return Err(p.err_at(e.1, format!("unexpected {{{{{}}}}}", e.0)));
    }
    p.tree.main = main;
    Ok(p.tree)
}

struct Parser<'a> {
    name: &'a str,
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    known: &'a dyn Fn(&str) -> bool,
    depth: usize,
    range_depth: usize,
    tree: Tree,
}

/// What ended a list: `end`, `else` (with what follows it on the line).
type Ender = (String, u32);

impl Parser<'_> {
    fn err_at(&self, line: u32, msg: String) -> TemplateError {
        TemplateError::parse(self.name, line, msg)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map(|t| t.line)
            .unwrap_or(1)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.tok.clone());
        self.i += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.i += 1;
        }
    }

    /// Nodes until the end of input (`top`) or an `{{end}}`/`{{else ...}}`,
    /// which is returned (the `else` with the tokens after it unread).
    fn list(&mut self, top: bool) -> Result<(List, Option<Ender>), TemplateError> {
        let mut list = Vec::new();
        loop {
            match self.next() {
                None => {
                    if top {
                        return Ok((list, None));
                    }
                    return Err(self.err_at(self.line(), "unexpected EOF".into()));
                }
                Some(Tok::Text(t)) => list.push(Node::Text(t)),
                Some(Tok::Open) => {
                    let line = self.line();
                    self.skip_space();
                    match self.peek().cloned() {
                        Some(Tok::Ident(k)) if k == "end" || k == "else" => {
                            self.i += 1;
                            if k == "end" {
                                self.skip_space();
                                self.expect_close("end")?;
                            }
                            return Ok((list, Some((k, line))));
                        }
                        Some(Tok::Ident(k)) if is_keyword(&k) => {
                            self.i += 1;
                            if let Some(n) = self.keyword(&k, line, top)? {
                                list.push(n);
                            }
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            list.push(Node::Action(pipe));
                        }
                    }
                }
                Some(t) => return Err(self.err_at(self.line(), format!("unexpected {t:?}"))),
            }
        }
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Tok::Close) => Ok(()),
            _ => Err(self.err_at(
                self.line(),
                format!("unexpected input in {what}: `}}}}` expected"),
            )),
        }
    }

    fn keyword(&mut self, k: &str, line: u32, top: bool) -> Result<Option<Node>, TemplateError> {
        match k {
            "if" | "with" | "range" => {
                let kind = match k {
                    "if" => BranchKind::If,
                    "with" => BranchKind::With,
                    _ => BranchKind::Range,
                };
                self.branch(kind, line).map(Some)
            }
            "break" | "continue" => {
                if self.range_depth == 0 {
                    return Err(self.err_at(line, format!("{{{{{k}}}}} outside {{{{range}}}}")));
                }
                self.skip_space();
                self.expect_close(k)?;
                Ok(Some(if k == "break" {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            "template" => {
                self.skip_space();
                let name = self.string_name("template")?;
                self.skip_space();
                let pipe = if self.peek() == Some(&Tok::Close) {
                    self.i += 1;
                    None
                } else {
                    Some(self.pipeline("template", false)?)
                };
                Ok(Some(Node::Template { name, pipe, line }))
            }
            "define" | "block" => {
                if !top {
                    return Err(self.err_at(
                        line,
                        format!("{{{{{k}}}}} is allowed only at the top level"),
                    ));
                }
                self.skip_space();
                let name = self.string_name(k)?;
                self.skip_space();
                let pipe = if k == "block" {
                    Some(self.pipeline("block", false)?)
                } else {
                    self.expect_close("define")?;
                    None
                };
                // A define's body has its own variables: only `$`.
                let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
                let saved_range = std::mem::replace(&mut self.range_depth, 0);
                self.enter(line)?;
                let (body, end) = self.list(false)?;
                self.depth -= 1;
                self.vars = saved;
                self.range_depth = saved_range;
                match end {
                    Some((e, _)) if e == "end" => {}
                    Some((e, l)) => {
                        return Err(self.err_at(l, format!("unexpected {{{{{e}}}}} in {k}")))
                    }
                    None => return Err(self.err_at(line, format!("{k} is not closed"))),
                }
                self.tree.defines.insert(name.clone(), body);
                Ok(pipe.map(|p| Node::Template {
                    name,
                    pipe: Some(p),
                    line,
                }))
            }
            _ => Err(self.err_at(line, format!("unexpected keyword {k}"))),
        }
    }

    fn enter(&mut self, line: u32) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err_at(line, format!("nested deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn string_name(&mut self, ctx: &str) -> Result<String, TemplateError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(self.err_at(
                self.line(),
                format!("{ctx}: a quoted template name expected"),
            )),
        }
    }

    fn branch(&mut self, kind: BranchKind, line: u32) -> Result<Node, TemplateError> {
        self.enter(line)?;
        let mark = self.vars.len();
        let ctx = match kind {
            BranchKind::If => "if",
            BranchKind::With => "with",
            BranchKind::Range => "range",
        };
        let pipe = self.pipeline(ctx, false)?;
        if pipe.cmds.is_empty() {
            return Err(self.err_at(line, format!("missing value for {ctx}")));
        }
        let mark2 = self.vars.len();
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.list(false)?;
        self.vars.truncate(mark2);
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Some((e, _)) if e == "end" => None,
            Some((_, eline)) => {
                // `else`, `else if ...`, `else with ...`.
                self.skip_space();
                match self.peek().cloned() {
                    Some(Tok::Ident(k))
                        if (k == "if" && kind == BranchKind::If)
                            || (k == "with" && kind == BranchKind::With) =>
                    {
                        self.i += 1;
                        // The chained branch consumes the one `end`.
                        let inner = self.branch(kind, eline)?;
                        self.vars.truncate(mark);
                        self.depth -= 1;
                        return Ok(Node::Branch {
                            kind,
                            pipe,
                            list,
                            else_list: Some(vec![inner]),
                        });
                    }
                    _ => {}
                }
                self.expect_close("else")?;
                let (el, end2) = self.list(false)?;
                match end2 {
                    Some((e, _)) if e == "end" => {}
                    Some((e, l)) => {
                        return Err(self.err_at(l, format!("expected end; found {{{{{e}}}}}")))
                    }
                    None => return Err(self.err_at(line, "unexpected EOF".into())),
                }
                Some(el)
            }
            None => return Err(self.err_at(line, "unexpected EOF".into())),
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Node::Branch {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    /// A pipeline up to `}}` (or `)` when `paren`).
    fn pipeline(&mut self, ctx: &str, _action: bool) -> Result<Pipe, TemplateError> {
        self.pipeline_until(ctx, false)
    }

    fn pipeline_until(&mut self, ctx: &str, paren: bool) -> Result<Pipe, TemplateError> {
        let line = self.line();
        let start = self.i;
        self.skip_space();
        let mut decl = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
        let save = self.i;
        if let Some(Tok::Var(v)) = self.peek().cloned() {
            self.i += 1;
            self.skip_space();
            match self.peek() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = self.peek() == Some(&Tok::Assign);
                    self.i += 1;
                    decl.push(v);
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    self.skip_space();
                    let Some(Tok::Var(v2)) = self.next() else {
                        return Err(
                            self.err_at(line, "range: a second variable expected after `,`".into())
                        );
                    };
                    self.skip_space();
                    match self.next() {
                        Some(Tok::Declare) => {}
                        Some(Tok::Assign) => assign = true,
                        _ => {
                            return Err(self
                                .err_at(line, "range: `:=` expected after the variables".into()))
                        }
                    }
                    decl.push(v);
                    decl.push(v2);
                }
                _ => self.i = save,
            }
        }
        if assign {
            for v in &decl {
                if !self.vars.contains(v) {
                    return Err(self.err_at(line, format!("undefined variable \"{v}\"")));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Tok::Close) if !paren => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if paren => {
                    self.i += 1;
                    break;
                }
                None => return Err(self.err_at(line, format!("unclosed {ctx}"))),
                _ => {}
            }
            cmds.push(self.command(line, paren)?);
            match self.peek() {
                Some(Tok::Pipe) => {
                    self.i += 1;
                    continue;
                }
                Some(Tok::Close) if !paren => {}
                Some(Tok::RParen) if paren => {}
                other => return Err(self.err_at(line, format!("unexpected {other:?} in {ctx}"))),
            }
        }
        if !decl.is_empty() && cmds.is_empty() {
            return Err(self.err_at(line, format!("missing value for {ctx}")));
        }
        if !assign {
            for v in &decl {
                self.vars.push(v.clone());
            }
        }
        if cmds.len() > 1 {
            for c in &cmds[1..] {
                if let Some(a) = c.args.first() {
                    if matches!(
                        a,
                        Arg::Bool(_)
                            | Arg::Int(_)
                            | Arg::Float(_)
                            | Arg::Str(_)
                            | Arg::Nil
                            | Arg::Dot
                    ) {
                        return Err(
                            self.err_at(line, "non executable command in pipeline stage".into())
                        );
                    }
                }
            }
        }
        let text = self.toks[start..self.i.min(self.toks.len())]
            .iter()
            .map(|t| tok_text(&t.tok))
            .collect::<String>();
        Ok(Pipe {
            line,
            assign,
            decl,
            cmds,
            text: text.trim().trim_end_matches("}}").trim().to_string(),
        })
    }

    fn command(&mut self, line: u32, paren: bool) -> Result<Cmd, TemplateError> {
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(Tok::Close) | Some(Tok::Pipe) | None => break,
                Some(Tok::RParen) if paren => break,
                _ => {}
            }
            if args.len() > 64 {
                return Err(self.err_at(line, "more than 64 operands in a command".into()));
            }
            let a = self.operand(line)?;
            args.push(a);
            match self.peek() {
                Some(Tok::Space) | Some(Tok::Close) | Some(Tok::Pipe) | None => {}
                Some(Tok::RParen) if paren => {}
                other => return Err(self.err_at(line, format!("unexpected {other:?} in operand"))),
            }
        }
        if args.is_empty() {
            return Err(self.err_at(line, "missing command".into()));
        }
        if matches!(args[0], Arg::Nil) {
            return Err(self.err_at(line, "nil is not a command".into()));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self, line: u32) -> Result<Arg, TemplateError> {
        let t = self
            .next()
            .ok_or_else(|| self.err_at(line, "unexpected EOF".into()))?;
        let base = match t {
            Tok::Field(f) => {
                let mut chain = vec![f];
                chain.extend(self.fields());
                return Ok(Arg::Field(chain));
            }
            Tok::Dot => Arg::Dot,
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err_at(line, format!("undefined variable \"{v}\"")));
                }
                let chain = self.fields();
                return Ok(Arg::Var(v, chain));
            }
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Int(c as i64),
            Tok::Number(n) => {
                number(&n).ok_or_else(|| self.err_at(line, format!("bad number syntax: {n:?}")))?
            }
            Tok::Ident(w) => match w.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ if is_keyword(&w) => {
                    return Err(self.err_at(line, format!("unexpected keyword {w} in operand")))
                }
                _ => {
                    if !(self.known)(&w) {
                        return Err(self.err_at(line, format!("function \"{w}\" not defined")));
                    }
                    Arg::Func(w)
                }
            },
            Tok::LParen => {
                self.enter(line)?;
                let p = self.pipeline_until("parenthesized pipeline", true)?;
                self.depth -= 1;
                let chain = self.fields();
                return Ok(Arg::Pipe(Box::new(p), chain));
            }
            other => return Err(self.err_at(line, format!("unexpected {other:?} in operand"))),
        };
        if matches!(self.peek(), Some(Tok::Field(_))) {
            return Err(self.err_at(line, "unexpected . after term".into()));
        }
        Ok(base)
    }

    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(Tok::Field(f)) = self.peek().cloned() {
            self.i += 1;
            out.push(f);
        }
        out
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "if" | "else"
            | "end"
            | "range"
            | "with"
            | "define"
            | "template"
            | "block"
            | "break"
            | "continue"
    )
}

/// A number literal: an integer unless it has a fraction or exponent.
fn number(n: &str) -> Option<Arg> {
    let clean: String = n.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains(['.', 'p']) {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    if lower.starts_with("0x") {
        return None;
    }
    let f: f64 = body.parse().ok()?;
    Some(Arg::Float(if neg { -f } else { f }))
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Text(s) => s.clone(),
        Tok::Open => String::new(),
        Tok::Close => "}}".into(),
        Tok::Space => " ".into(),
        Tok::Ident(s) | Tok::Number(s) | Tok::Var(s) => s.clone(),
        Tok::Field(f) => format!(".{f}"),
        Tok::Dot => ".".into(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(c) => format!("{c:?}"),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => ",".into(),
    }
}
