//! POSIX shell quoting for `export NAME='value'` lines.
//!
//! A value is wrapped in single quotes, inside which a POSIX shell takes
//! every byte literally (`$`, backticks, backslashes, newlines, `"`); the
//! only character that cannot appear inside is `'` itself, which is written
//! as `'\''` (close the quote, an escaped quote, reopen). The result is safe
//! to `eval` in `sh`, `dash`, `bash`, `zsh` and `ksh`.

/// Quote `value` for a POSIX shell: `'...'`, with each `'` as `'\''`
/// (`it's` becomes `'it'\''s'`, the empty string `''`).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// One `export NAME='value'` line, ending in a newline.
///
/// `name` must already be a valid environment name (see
/// `crate::secrets::env::validate_name`); it is written as is.
pub(crate) fn export_line(name: &str, value: &str) -> String {
    format!("export {name}={}\n", quote(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a'b"), "'a'\\''b'");
        assert_eq!(quote("''"), "''\\'''\\'''");
        assert_eq!(quote("$HOME `id` \\n"), "'$HOME `id` \\n'");
        assert_eq!(export_line("A_1", "x y"), "export A_1='x y'\n");
    }
}
