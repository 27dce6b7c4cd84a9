//! The executor: walks the tree with a dot and variables, as Go's
//! `text/template` does.
//!
//! - The top-level dot is nil (consul-template passes no data); `$` is the
//!   dot a template was called with.
//! - A field of a map that has no such key is nil (printed `<no value>`),
//!   or an error with `error_on_missing_key`; a field of nil inside a chain
//!   (`.a.b` when `a` is missing or null) is an error, as in Go.
//! - `range` walks lists in order, maps in sorted key order (one variable:
//!   the element; two: index or key, then element), integers from 0; an
//!   empty or nil value runs the `else` part.
//! - `and`/`or` stop at the first false/true argument and return it.

use std::rc::Rc;

use super::funcs;
use super::parse::{Arg, BranchKind, Cmd, List, Node, Pipe, Tree};
use super::value::{print_action, Val};
use super::{Fetch, Limits, TemplateError, MAX_EXEC_NESTING};

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'a> {
    name: &'a str,
    tree: &'a Tree,
    missing_key_error: bool,
    pub(crate) fetch: &'a mut dyn Fetch,
    pub(crate) limits: Limits,
    out: String,
    vars: Vec<(String, Val)>,
    steps: u64,
    depth: usize,
    /// Lists being walked inside each other: structures and `template`
    /// calls together.
    nest: usize,
    line: u32,
    /// The action being run, for error messages.
    at: String,
}

type R<T> = Result<T, TemplateError>;

pub(crate) fn run(
    name: &str,
    tree: &Tree,
    missing_key_error: bool,
    fetch: &mut dyn Fetch,
    limits: Limits,
) -> R<String> {
    let mut s = State {
        name,
        tree,
        missing_key_error,
        fetch,
        limits,
        out: String::new(),
        vars: vec![("$".into(), Val::Nil)],
        steps: 0,
        depth: 0,
        nest: 0,
        line: 1,
        at: String::new(),
    };
    s.walk(&tree.main, &Val::Nil)?;
    Ok(s.out)
}

impl State<'_> {
    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        let msg = msg.into();
        let msg = if self.at.is_empty() {
            msg
        } else {
            format!("at <{}>: {msg}", self.at)
        };
        Err(TemplateError::exec(self.name, self.line, msg))
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.steps {
            return self.err(format!(
                "more than {} steps: the template does too much (a loop too large?)",
                self.limits.steps
            ));
        }
        Ok(())
    }

    /// `n` steps at once.
    fn steps_for(&mut self, n: u64) -> R<()> {
        if n > 0 {
            self.steps = self.steps.saturating_add(n - 1);
            self.step()?;
        }
        Ok(())
    }

    fn var(&self, name: &str) -> R<Val> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, v: Val) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    /// Walk `list`; past [`MAX_EXEC_NESTING`] lists inside each other
    /// (each `template` call may nest its own structures again) it fails
    /// before the thread's stack runs out.
    fn walk(&mut self, list: &List, dot: &Val) -> R<Flow> {
        if self.nest >= MAX_EXEC_NESTING {
            return self.err(format!(
                "structures and templates nested deeper than {MAX_EXEC_NESTING} levels"
            ));
        }
        self.nest += 1;
        let r = self.walk_list(list, dot);
        self.nest -= 1;
        r
    }

    fn walk_list(&mut self, list: &List, dot: &Val) -> R<Flow> {
        for node in list {
            self.step()?;
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(p) => {
                    self.line = p.line;
                    self.at.clone_from(&p.text);
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        let mut s = String::new();
                        print_action(&v, &mut s);
                        self.write(&s)?;
                    }
                }
                Node::Branch {
                    kind,
                    pipe,
                    list,
                    else_list,
                } => {
                    self.line = pipe.line;
                    self.at.clone_from(&pipe.text);
                    let mark = self.vars.len();
                    let flow = match kind {
                        BranchKind::Range => self.range(pipe, list, else_list.as_ref(), dot)?,
                        BranchKind::If | BranchKind::With => {
                            let v = self.pipe(pipe, dot)?;
                            if v.truth() {
                                let d = if *kind == BranchKind::With {
                                    v
                                } else {
                                    dot.clone()
                                };
                                self.walk(list, &d)?
                            } else if let Some(e) = else_list {
                                self.walk(e, dot)?
                            } else {
                                Flow::Normal
                            }
                        }
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Template { name, pipe, line } => {
                    self.line = *line;
                    let d = match pipe {
                        Some(p) => self.pipe(p, dot)?,
                        None => Val::Nil,
                    };
                    let Some(body) = self.tree.defines.get(name) else {
                        return self.err(format!("no such template {name:?}"));
                    };
                    if self.depth >= self.limits.depth {
                        return self.err(format!(
                            "templates call each other deeper than {} levels",
                            self.limits.depth
                        ));
                    }
                    self.depth += 1;
                    let saved = std::mem::replace(&mut self.vars, vec![("$".into(), d.clone())]);
                    let r = self.walk(body, &d);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > self.limits.output {
            return self.err(format!(
                "the output is larger than {} bytes",
                self.limits.output
            ));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn range(&mut self, pipe: &Pipe, list: &List, else_list: Option<&List>, dot: &Val) -> R<Flow> {
        let v = self.pipe_value(pipe, dot)?;
        let mark = self.vars.len();
        // The elements are walked where they are: nothing is copied or
        // built up front (a `range` over a large int costs steps, not
        // memory).
        let empty = match &v {
            Val::Nil => true,
            Val::List(l, _) => l.is_empty(),
            Val::Map(m) => m.is_empty(),
            Val::Int(n) => {
                if pipe.decl.len() > 1 {
                    return self.err("can't use two variables when ranging over an int");
                }
                *n <= 0
            }
            other => {
                // The value is not shown: it may be a secret.
                return self.err(format!(
                    "range can't iterate over a value of type {}",
                    other.type_name()
                ));
            }
        };
        if empty {
            return match else_list {
                Some(e) => self.walk(e, dot),
                None => Ok(Flow::Normal),
            };
        }
        match &v {
            Val::List(l, _) => {
                for (i, x) in l.iter().enumerate() {
                    if self.iteration(pipe, list, mark, || Val::Int(i as i64), x)? {
                        break;
                    }
                }
            }
            Val::Map(m) => {
                for (k, x) in m.iter() {
                    if self.iteration(pipe, list, mark, || Val::Str(k.clone()), x)? {
                        break;
                    }
                }
            }
            Val::Int(n) => {
                for i in 0..*n {
                    if self.iteration(pipe, list, mark, || Val::Int(i), &Val::Int(i))? {
                        break;
                    }
                }
            }
            _ => {}
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// One iteration of a `range`: its variables bound (`key` only made
    /// when two are declared), the body walked; whether it broke out.
    fn iteration(
        &mut self,
        pipe: &Pipe,
        list: &List,
        mark: usize,
        key: impl FnOnce() -> Val,
        x: &Val,
    ) -> R<bool> {
        self.step()?;
        self.vars.truncate(mark);
        match pipe.decl.as_slice() {
            [] => {}
            [one] => self.bind(pipe, one, x.clone())?,
            [a, b, ..] => {
                self.bind(pipe, a, key())?;
                self.bind(pipe, b, x.clone())?;
            }
        }
        Ok(matches!(self.walk(list, x)?, Flow::Break))
    }

    fn bind(&mut self, pipe: &Pipe, name: &str, v: Val) -> R<()> {
        if pipe.assign {
            self.set_var(name, v)
        } else {
            self.vars.push((name.to_string(), v));
            Ok(())
        }
    }

    /// A pipeline's value, without its declarations.
    fn pipe_value(&mut self, p: &Pipe, dot: &Val) -> R<Val> {
        let mut last: Option<Val> = None;
        for c in &p.cmds {
            last = Some(self.cmd(c, dot, last)?);
        }
        Ok(last.unwrap_or(Val::Nil))
    }

    /// A pipeline's value, its variables declared or assigned.
    fn pipe(&mut self, p: &Pipe, dot: &Val) -> R<Val> {
        let v = self.pipe_value(p, dot)?;
        for name in &p.decl {
            self.bind(p, name, v.clone())?;
        }
        Ok(v)
    }

    fn cmd(&mut self, c: &Cmd, dot: &Val, last: Option<Val>) -> R<Val> {
        self.step()?;
        let first = &c.args[0];
        if let Arg::Func(name) = first {
            return self.call(name, &c.args[1..], dot, last);
        }
        if c.args.len() > 1 || last.is_some() {
            return self.err("can't give argument to non-function".to_string());
        }
        self.arg(first, dot)
    }

    fn call(&mut self, name: &str, args: &[Arg], dot: &Val, last: Option<Val>) -> R<Val> {
        // `and` and `or` evaluate their arguments only as far as needed.
        if name == "and" || name == "or" {
            let n = args.len() + usize::from(last.is_some());
            if n == 0 {
                return self.err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let mut v = Val::Nil;
            for a in args {
                v = self.arg(a, dot)?;
                if v.truth() != (name == "and") {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot)?);
        }
        if let Some(l) = last {
            vals.push(l);
        }
        // A function's work grows with what it reads and builds: it costs
        // steps by size, so a loop over a large value ends by the step
        // bound, not after hours.
        let read: u64 = vals.iter().map(cost).sum();
        self.steps_for(read)?;
        match funcs::call(self, name, vals) {
            Ok(v) => {
                self.steps_for(cost(&v))?;
                match &v {
                    Val::Str(s) if s.len() > self.limits.output => {
                        return self.err(format!(
                            "{name}: the result is larger than {} bytes",
                            self.limits.output
                        ));
                    }
                    Val::List(l, _) if l.len() > self.limits.items => {
                        return self.err(format!(
                            "{name}: the result has more than {} items",
                            self.limits.items
                        ));
                    }
                    _ => {}
                }
                Ok(v)
            }
            Err(e) => self.err(format!("error calling {name}: {e}")),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Val) -> R<Val> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => Val::Nil,
            Arg::Bool(b) => Val::Bool(*b),
            Arg::Int(i) => Val::Int(*i),
            Arg::Float(f) => Val::Float(*f),
            Arg::Str(s) => Val::Str(s.clone()),
            Arg::Field(chain) => self.chain(dot.clone(), chain, true)?,
            Arg::Var(name, chain) => {
                let v = self.var(name)?;
                self.chain(v, chain, false)?
            }
            Arg::Func(name) => self.call(name, &[], dot, None)?,
            Arg::Pipe(p, chain) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                // Variables declared in parentheses live on (Go keeps them
                // to the end of the enclosing structure); keep it simple and
                // bounded: they stay until the structure ends.
                let _ = mark;
                self.chain(v, chain, false)?
            }
        })
    }

    /// `.a.b.c` on `v`; `from_dot`: the chain starts at the dot, whose nil
    /// (no data) gives nil rather than an error.
    fn chain(&mut self, mut v: Val, chain: &[String], from_dot: bool) -> R<Val> {
        let mut root_nil = from_dot && matches!(v, Val::Nil);
        for f in chain {
            v = match &v {
                Val::Nil if root_nil => {
                    if self.missing_key_error {
                        return self.err(format!("nil data; no entry for key {f:?}"));
                    }
                    Val::Nil
                }
                Val::Nil => return self.err(format!("nil pointer evaluating interface {{}}.{f}")),
                Val::Map(m) => match m.get(f) {
                    Some(x) => x.clone(),
                    None if self.missing_key_error => {
                        return self.err(format!("map has no entry for key {f:?}"))
                    }
                    None => Val::Nil,
                },
                Val::Secret(s) => match s.field(f) {
                    Some(x) => x,
                    None => {
                        return self.err(format!(
                            "can't evaluate field {f} in type *dependency.Secret"
                        ))
                    }
                },
                other => {
                    return self.err(format!(
                        "can't evaluate field {f} in type {}",
                        other.type_name()
                    ))
                }
            };
            root_nil = root_nil && matches!(v, Val::Nil);
        }
        Ok(v)
    }
}

/// The steps a value costs a function that reads or builds it: one per
/// KiB of a string, one per 64 items of a list or map (their elements are
/// shared, not copied).
fn cost(v: &Val) -> u64 {
    match v {
        Val::Str(s) | Val::Number(s) => (s.len() / 1024) as u64,
        Val::List(l, _) => (l.len() / 64) as u64,
        Val::Map(m) => (m.len() / 64) as u64,
        _ => 0,
    }
}

/// A shared empty map (for `parseJSON ""`).
pub(crate) fn empty_map() -> Val {
    Val::Map(Rc::new(Default::default()))
}
