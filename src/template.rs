//! The template language of Vault/OpenBao Agent: Go's `text/template` with
//! consul-template's functions, so a template written for `bao agent`
//! renders here to the same bytes.
//!
//! A template is text with actions between delimiters (`{{` and `}}`
//! unless configured). An action is a pipeline: commands joined by `|`,
//! each the result of the one before passed as its last argument:
//!
//! ```text
//! {{ with secret "secret/data/app/db" }}
//! postgres://{{ .Data.data.user }}:{{ .Data.data.password | urlquery }}@db/app
//! {{ end }}
//! ```
//!
//! The pieces, in the order a template goes through them:
//!
//! - `lex`: text and action tokens, trim markers (`{{- `, ` -}}`),
//!   comments;
//! - `parse`: the tree; control structures (`if`/`else if`/`else`,
//!   `range`/`else`, `with`/`else with`, `define`, `template`, `block`,
//!   `break`, `continue`), variables declared before use, and every
//!   function name checked: an unknown function is an error when the
//!   template is parsed, before any secret is read;
//! - `exec`: the walk, with Go's truth, its missing-key rule (`<no value>`,
//!   or an error with `error_on_missing_key`), its printing (`value`) and
//!   `printf` (`printf`);
//! - `funcs`: the functions, Go's built-ins and consul-template's.
//!   Everything that reads Vault or the process goes through [`Fetch`], so
//!   the engine is tested without a server.
//!
//! Hostile templates are bounded ([`Limits`]): template size, nesting,
//! output size, value size (bytes of a string, items of a list, values
//! `parseJSON` builds), steps (each node, call and `range` iteration),
//! `template` recursion depth. Past a bound the rendering
//! fails; it never hangs or grows without limit.

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod value;

use std::fmt;

pub(crate) use funcs::secret_from_answer;
pub(crate) use value::{Secret, Val};

/// The deepest nesting of control structures and parentheses.
pub(crate) const MAX_NESTING: usize = 100;

/// The deepest nesting while executing: structures and `template` calls
/// inside each other, counted together (each template called may nest its
/// structures again). Bounds the walk's recursion, so the stack: about
/// 4 KiB a level unoptimised, 1 MiB in all, which a thread of 2 MiB (a
/// test's) holds.
pub(crate) const MAX_EXEC_NESTING: usize = 256;

/// The largest template read (bytes).
pub(crate) const MAX_TEMPLATE_BYTES: usize = 1 << 20;

/// Bounds on one execution.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The largest output (bytes); also the largest value a function builds.
    pub output: usize,
    /// Nodes walked, functions called and `range` iterations, together.
    pub steps: u64,
    /// `template` calls inside each other.
    pub depth: usize,
    /// The most items a list a function builds may hold (`split`,
    /// `secrets`), and the most values `parseJSON` may build.
    pub items: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            output: 4 << 20,
            steps: 1_000_000,
            depth: 64,
            items: 100_000,
        }
    }
}

/// What a template reads from outside: Vault and the process.
pub(crate) trait Fetch {
    /// `secret PATH` (a read) or `secret PATH "k=v"...` (a write).
    fn secret(&mut self, path: &str, params: &[(String, String)]) -> Result<Secret, String>;
    /// `secrets PATH`: the keys a list of `PATH` returns.
    fn secrets(&mut self, path: &str) -> Result<Vec<String>, String>;
    /// `pkiCert PATH "k=v"...`: a certificate, reused while it is valid.
    fn pki_cert(&mut self, path: &str, params: &[(String, String)]) -> Result<Secret, String>;
    /// `env NAME`.
    fn env(&mut self, name: &str) -> String;
    /// The time now, for `timestamp` (Unix seconds).
    fn now(&mut self) -> u64;
}

/// A template error: parsing or executing, with the template's name and
/// the line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateError {
    /// The template's name (its destination or source).
    pub name: String,
    /// The line, 1-based.
    pub line: u32,
    /// What went wrong.
    pub msg: String,
    /// Whether the template could not be parsed (else: executed).
    pub parse: bool,
}

impl TemplateError {
    pub(crate) fn parse(name: &str, line: u32, msg: String) -> TemplateError {
        TemplateError {
            name: name.to_string(),
            line,
            msg,
            parse: true,
        }
    }

    pub(crate) fn exec(name: &str, line: u32, msg: String) -> TemplateError {
        TemplateError {
            name: name.to_string(),
            line,
            msg,
            parse: false,
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.parse { "parsing" } else { "executing" };
        write!(
            f,
            "template {}: line {}: {what}: {}",
            self.name, self.line, self.msg
        )
    }
}

/// A parsed template, ready to run any number of times.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    name: String,
    tree: parse::Tree,
    missing_key_error: bool,
}

/// How a template is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// The opening delimiter (default `{{`).
    pub left: Option<String>,
    /// The closing delimiter (default `}}`).
    pub right: Option<String>,
    /// A missing map key is an error (`error_on_missing_key`).
    pub missing_key_error: bool,
}

impl Template {
    /// Parse `text`; `name` names it in errors. Never panics.
    pub(crate) fn parse(name: &str, text: &str, opts: &Options) -> Result<Template, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::parse(
                name,
                1,
                format!("the template is larger than {MAX_TEMPLATE_BYTES} bytes"),
            ));
        }
        let left = opts
            .left
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("{{");
        let right = opts
            .right
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("}}");
        let toks = lex::lex(name, text, left, right)?;
        let tree = parse::parse(name, toks, &funcs::exists)?;
        Ok(Template {
            name: name.to_string(),
            tree,
            missing_key_error: opts.missing_key_error,
        })
    }

    /// Run it: the rendered text, or the first error.
    pub(crate) fn render(
        &self,
        fetch: &mut dyn Fetch,
        limits: Limits,
    ) -> Result<String, TemplateError> {
        exec::run(
            &self.name,
            &self.tree,
            self.missing_key_error,
            fetch,
            limits,
        )
    }
}

#[cfg(test)]
mod tests;
