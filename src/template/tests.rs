//! The engine on its own: Go's semantics and consul-template's functions,
//! with secrets from an in-memory table.

use std::collections::BTreeMap;

use serde_json::json;

use super::funcs::secret_from_answer;
use super::*;

#[derive(Default)]
struct Table {
    secrets: BTreeMap<String, serde_json::Value>,
    lists: BTreeMap<String, Vec<String>>,
    env: BTreeMap<String, String>,
    calls: Vec<String>,
}

impl Fetch for Table {
    fn secret(&mut self, path: &str, params: &[(String, String)]) -> Result<Secret, String> {
        let key = if params.is_empty() {
            path.to_string()
        } else {
            let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{path}?{}", p.join("&"))
        };
        self.calls.push(key.clone());
        self.secrets
            .get(&key)
            .map(secret_from_answer)
            .ok_or_else(|| format!("no secret at {key}"))
    }
    fn secrets(&mut self, path: &str) -> Result<Vec<String>, String> {
        self.lists
            .get(path)
            .cloned()
            .ok_or_else(|| format!("nothing at {path}"))
    }
    fn pki_cert(&mut self, path: &str, params: &[(String, String)]) -> Result<Secret, String> {
        let mut s = self.secret(path, params)?;
        let cert = s.data.get("certificate").cloned().unwrap_or(Val::Nil);
        let key = s.data.get("private_key").cloned().unwrap_or(Val::Nil);
        s.data = [("Cert".to_string(), cert), ("Key".to_string(), key)].into();
        Ok(s)
    }
    fn env(&mut self, name: &str) -> String {
        self.env.get(name).cloned().unwrap_or_default()
    }
    fn now(&mut self) -> u64 {
        1_700_000_000
    }
}

fn table() -> Table {
    let mut t = Table::default();
    t.secrets.insert(
        "secret/data/app".into(),
        json!({"request_id": "r1", "lease_id": "", "lease_duration": 0, "renewable": false,
               "data": {"data": {"user": "app", "password": "p<&>w", "port": 5432, "ratio": 1.5,
                                 "tags": ["a", "b"], "nested": {"k": "v"}, "none": null, "zero": 0,
                                 "empty": ""},
                        "metadata": {"version": 3}}}),
    );
    t.secrets.insert(
        "kv/app".into(),
        json!({"lease_duration": 2764800, "data": {"b": "2", "a": "1"}}),
    );
    t.secrets.insert(
        "database/creds/app".into(),
        json!({"lease_id": "database/creds/app/xyz", "lease_duration": 3600, "renewable": true,
               "data": {"username": "v-app", "password": "pw"}}),
    );
    t.secrets.insert(
        "pki/issue/web?common_name=a.example.com&ttl=1h".into(),
        json!({"data": {"certificate": "CERT", "private_key": "KEY", "issuing_ca": "CA"}}),
    );
    t.lists
        .insert("secret/metadata/".into(), vec!["app".into(), "db/".into()]);
    t.env.insert("HOME".into(), "/home/x".into());
    t
}

fn render_opts(text: &str, opts: &Options) -> Result<String, TemplateError> {
    let t = Template::parse("t", text, opts)?;
    t.render(&mut table(), Limits::default())
}

fn render(text: &str) -> String {
    render_opts(text, &Options::default()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn fails(text: &str) -> String {
    render_opts(text, &Options::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn kv2_and_kv1_and_dynamic_secrets() {
    assert_eq!(
        render(
            r#"{{ with secret "secret/data/app" }}{{ .Data.data.user }}:{{ .Data.data.password }}{{ end }}"#
        ),
        "app:p<&>w"
    );
    assert_eq!(render(r#"{{ (secret "kv/app").Data.a }}"#), "1");
    assert_eq!(
        render(
            r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .LeaseDuration }} {{ .Renewable }} {{ .LeaseID }}{{ end }}"#
        ),
        "v-app 3600 true database/creds/app/xyz"
    );
    assert_eq!(
        render(
            r#"{{ with secret "pki/issue/web" "common_name=a.example.com" "ttl=1h" }}{{ .Data.certificate }}|{{ .Data.issuing_ca }}{{ end }}"#
        ),
        "CERT|CA"
    );
    assert_eq!(
        render(
            r#"{{ with pkiCert "pki/issue/web" "common_name=a.example.com" "ttl=1h" }}{{ .Data.Cert }}{{ .Data.Key }}{{ end }}"#
        ),
        "CERTKEY"
    );
    assert_eq!(
        render(r#"{{ range secrets "secret/metadata/" }}{{ . }},{{ end }}"#),
        "app,db/,"
    );
    assert!(fails(r#"{{ secret "nope" }}"#).contains("no secret at nope"));
    assert!(fails(r#"{{ secret "pki/issue/web" "common_name" }}"#).contains("key=value"));
}

#[test]
fn numbers_print_as_go_prints_them() {
    // Vault's numbers are json.Number: printed as written.
    assert_eq!(
        render(
            r#"{{ with secret "secret/data/app" }}{{ .Data.data.port }} {{ .Data.data.ratio }} {{ .Data.metadata.version }}{{ end }}"#
        ),
        "5432 1.5 3"
    );
    // parseJSON's are float64.
    assert_eq!(
        render(
            r#"{{ $j := parseJSON "{\"a\":1,\"b\":1.5,\"c\":1e21,\"d\":1000000,\"e\":0.00001}" }}{{ $j.a }} {{ $j.b }} {{ $j.c }} {{ $j.d }} {{ $j.e }}"#
        ),
        "1 1.5 1e+21 1e+06 1e-05"
    );
    assert_eq!(
        render("{{ 3 }} {{ 3.0 }} {{ 0x1F }} {{ 'a' }} {{ -2.5e3 }}"),
        "3 3 31 97 -2500"
    );
    // A json.Number is a string to Go: true when not empty, comparable with strings only.
    assert_eq!(
        render(
            r#"{{ with secret "secret/data/app" }}{{ if .Data.data.zero }}yes{{ end }}{{ end }}"#
        ),
        "yes"
    );
    assert_eq!(
        render(r#"{{ with secret "secret/data/app" }}{{ eq .Data.data.port "5432" }}{{ end }}"#),
        "true"
    );
    assert!(
        fails(r#"{{ with secret "secret/data/app" }}{{ eq .Data.data.port 5432 }}{{ end }}"#)
            .contains("incompatible types")
    );
    assert_eq!(
        render(
            r#"{{ with secret "secret/data/app" }}{{ printf "%d|%s|%v" .Data.data.port .Data.data.port .Data.data.port }}{{ end }}"#
        ),
        "%!d(json.Number=5432)|5432|5432"
    );
}

#[test]
fn missing_keys() {
    let t = r#"{{ with secret "secret/data/app" }}[{{ .Data.data.nope }}][{{ .Data.data.none }}]{{ end }}"#;
    assert_eq!(render(t), "[<no value>][<no value>]");
    let strict = Options {
        missing_key_error: true,
        ..Options::default()
    };
    let e = render_opts(t, &strict).unwrap_err().to_string();
    assert!(e.contains("map has no entry for key \"nope\""), "{e}");
    // Null is present: it prints, also under error_on_missing_key.
    assert_eq!(
        render_opts(
            r#"{{ with secret "secret/data/app" }}{{ .Data.data.none }}{{ end }}"#,
            &strict
        )
        .unwrap(),
        "<no value>"
    );
    assert!(
        fails(r#"{{ with secret "secret/data/app" }}{{ .Data.data.nope.deeper }}{{ end }}"#)
            .contains("nil pointer evaluating interface {}.deeper")
    );
    assert!(
        fails(r#"{{ with secret "secret/data/app" }}{{ .Nope }}{{ end }}"#)
            .contains("can't evaluate field Nope in type *dependency.Secret")
    );
    assert!(
        fails(r#"{{ with secret "secret/data/app" }}{{ .Data.data.user.x }}{{ end }}"#)
            .contains("in type string")
    );
    assert_eq!(render("{{ .A.B }}"), "<no value>");
}

#[test]
fn control_structures() {
    let s = r#"{{ with secret "secret/data/app" }}"#;
    assert_eq!(render(&format!("{s}{{{{ range $k, $v := .Data.data.nested }}}}{{{{ $k }}}}={{{{ $v }}}};{{{{ end }}}}{{{{ end }}}}")), "k=v;");
    assert_eq!(render(&format!("{s}{{{{ range $i, $t := .Data.data.tags }}}}{{{{ $i }}}}:{{{{ $t }}}} {{{{ end }}}}{{{{ end }}}}")), "0:a 1:b ");
    assert_eq!(
        render(&format!(
            "{s}{{{{ range .Data.data.tags }}}}{{{{ . }}}}{{{{ end }}}}{{{{ end }}}}"
        )),
        "ab"
    );
    // Maps in sorted key order.
    assert_eq!(
        render(r#"{{ range $k, $v := (secret "kv/app").Data }}{{ $k }}{{ $v }}{{ end }}"#),
        "a1b2"
    );
    assert_eq!(
        render(r#"{{ range $v := (secret "kv/app").Data }}{{ $v }}{{ end }}"#),
        "12"
    );
    assert_eq!(render("{{ range .X }}x{{ else }}empty{{ end }}"), "empty");
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(render("{{ range $i := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}"), "02");
    assert_eq!(
        render("{{ if false }}a{{ else if 0 }}b{{ else if \"x\" }}c{{ else }}d{{ end }}"),
        "c"
    );
    assert_eq!(
        render("{{ with \"\" }}a{{ else with \"w\" }}{{ . }}{{ end }}"),
        "w"
    );
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert_eq!(
        render("{{ if $x := \"v\" }}{{ $x }}{{ else }}{{ $x }}{{ end }}"),
        "v"
    );
    assert_eq!(
        render(
            r#"{{ define "row" }}<{{ . }}>{{ end }}{{ template "row" "a" }}{{ template "row" }}"#
        ),
        "<a><<no value>>"
    );
    assert_eq!(render(r#"{{ block "b" "x" }}[{{ . }}]{{ end }}"#), "[x]");
    assert_eq!(
        render(r#"{{ define "t" }}{{ $ }}{{ end }}{{ template "t" 7 }}"#),
        "7"
    );
}

#[test]
fn truth_and_logic() {
    assert_eq!(
        render("{{ and 1 0 2 }} {{ or 0 \"\" \"x\" }} {{ not 0 }} {{ and 1 2 }}"),
        "0 x true 2"
    );
    // `or` stops at the first true value: the secret after it is not read.
    let t = Template::parse("t", r#"{{ or "x" (secret "nope") }}"#, &Options::default()).unwrap();
    let mut tab = table();
    assert_eq!(t.render(&mut tab, Limits::default()).unwrap(), "x");
    assert!(tab.calls.is_empty());
    assert_eq!(
        render("{{ lt 1 2 }} {{ ge \"b\" \"a\" }} {{ ne 1 1 }} {{ eq 1 2 3 1 }} {{ le 1.5 1.5 }}"),
        "true true false true true"
    );
    assert!(fails("{{ lt 1 1.5 }}").contains("incompatible"));
    assert!(fails("{{ lt true false }}").contains("invalid type"));
}

#[test]
fn trimming_comments_delimiters() {
    assert_eq!(render("a  {{- \"b\" -}}  \n c"), "abc");
    assert_eq!(render("a {{/* note */}} b"), "a  b");
    assert_eq!(render("a\n{{- /* note */ -}}\nb"), "ab");
    let o = Options {
        left: Some("[[".into()),
        right: Some("]]".into()),
        ..Options::default()
    };
    assert_eq!(
        render_opts("{{ x }} [[ \"y\" ]] [[- 1 -]] z", &o).unwrap(),
        "{{ x }} y1z"
    );
}

#[test]
fn functions() {
    let s = r#"{{ with secret "secret/data/app" }}"#;
    let e = "{{ end }}";
    assert_eq!(
        render(&format!("{s}{{{{ .Data.data | toJSON }}}}{e}")),
        r#"{"empty":"","nested":{"k":"v"},"none":null,"password":"p\u003c\u0026\u003ew","port":5432,"ratio":1.5,"tags":["a","b"],"user":"app","zero":0}"#
    );
    assert_eq!(
        render(&format!("{s}{{{{ .Data.data.nested | toJSONPretty }}}}{e}")),
        "{\n  \"k\": \"v\"\n}"
    );
    assert_eq!(
        render(&format!("{s}{{{{ .Data.data.nested | toYAML }}}}{e}")),
        "k: v"
    );
    assert_eq!(
        render(
            r#"{{ "hello" | base64Encode }} {{ "aGVsbG8=" | base64Decode }} {{ "é?~" | base64URLEncode }} {{ "w6k_fg==" | base64URLDecode }}"#
        ),
        "aGVsbG8= hello w6k_fg== é?~"
    );
    assert!(fails(r#"{{ "!!" | base64Decode }}"#).contains("illegal base64"));
    assert_eq!(
        render(
            r#"{{ "A b" | toLower }} {{ "a b" | toUpper }} {{ "  x \n" | trimSpace }} {{ "hello world" | toTitle }}"#
        ),
        "a b A B x Hello World"
    );
    assert_eq!(
        render(r#"{{ "a,b,c" | split "," | join "-" }} {{ len (split "," " ") }}"#),
        "a-b-c 0"
    );
    assert_eq!(
        render(
            r#"{{ "aXbX" | replaceAll "X" "y" }} {{ "abc" | contains "b" }} {{ split "," "a,b" | contains "b" }}"#
        ),
        "ayby true true"
    );
    assert_eq!(render(r#"{{ env "HOME" }}[{{ env "NOPE" }}]"#), "/home/x[]");
    assert_eq!(
        render(r#"{{ printf "%s=%q %05.1f" "k" "v" 3.14159 }}"#),
        "k=\"v\" 003.1"
    );
    assert_eq!(
        render(
            r#"{{ index (secret "secret/data/app").Data.data.tags 1 }} {{ index (secret "kv/app").Data "a" }} {{ len "abc" }} {{ slice "abcd" 1 3 }}"#
        ),
        "b 1 3 bc"
    );
    assert_eq!(
        render(
            r#"{{ 2 | add 3 }} {{ 10 | subtract 3 }} {{ 2 | multiply 3.5 }} {{ 7 | divide 2 }} {{ 7 | modulo 3 }}"#
        ),
        "5 7 7 3 1"
    );
    assert_eq!(
        render(r#"{{ "a b&c" | urlquery }} {{ "<a>" | html }}"#),
        "a+b%26c &lt;a&gt;"
    );
    assert_eq!(
        render(r#"{{ timestamp }} {{ timestamp "unix" }}"#),
        "2023-11-14T22:13:20Z 1700000000"
    );
    assert_eq!(
        render(r#"{{ "x" | sha256Hex }}"#),
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    );
    assert_eq!(
        render(r#"{{ print "a" 1 2 "b" }}|{{ println 1 2 }}"#),
        "a1 2b|1 2\n"
    );
    assert_eq!(
        render(r#"{{ (parseJSON "[1,{\"a\":null}]") }} {{ parseJSON "" }}"#),
        "[1 map[a:<nil>]] map[]"
    );
    assert_eq!(render(&format!("{s}{{{{ .Data.data }}}}{e}")), "map[empty: nested:map[k:v] none:<nil> password:p<&>w port:5432 ratio:1.5 tags:[a b] user:app zero:0]");
    // Go's types: a json.Number is no string, a JSON list no []string.
    assert!(fails(&format!("{s}{{{{ .Data.data.port | toUpper }}}}{e}"))
        .contains("expected string; got json.Number"));
    assert!(
        fails(&format!("{s}{{{{ .Data.data.tags | join \",\" }}}}{e}"))
            .contains("expected []string; got []interface {}")
    );
    assert!(fails(r#"{{ secret "kv/app" | toYAML }}"#).contains("got *dependency.Secret"));
}

#[test]
fn parse_errors_name_the_line() {
    let cases: &[(&str, &str)] = &[
        (
            "a\n{{ nosuch .X }}",
            "line 2: parsing: function \"nosuch\" not defined",
        ),
        (
            "{{ writeToFile \"a\" }}",
            "function \"writeToFile\" not defined",
        ),
        ("{{ if .X }}", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $x }}", "undefined variable \"$x\""),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
            "undefined variable \"$y\"",
        ),
        ("{{ break }}", "outside {{range}}"),
        (
            "{{ if true }}{{ define \"x\" }}{{ end }}{{ end }}",
            "top level",
        ),
        ("{{ nil }}", "nil is not a command"),
        ("{{ . | \"x\" }}", "non executable"),
        ("{{ range $a, $b, $c := . }}{{ end }}", "range"),
    ];
    for (t, want) in cases {
        let e = Template::parse("t", t, &Options::default()).unwrap_err();
        assert!(e.parse, "{t}");
        assert!(e.to_string().contains(want), "{t}: {e}");
    }
    assert!(fails("{{ template \"nope\" }}").contains("no such template"));
    assert!(fails("{{ \"x\" 1 }}").contains("can't give argument"));
}

/// Bounds small enough for a test to reach each quickly.
const SMALL: Limits = Limits {
    output: 1 << 16,
    steps: 100_000,
    depth: 16,
    items: 10_000,
};

/// The error `text` fails with under `lim`.
fn bounded(text: &str, lim: Limits) -> String {
    Template::parse("t", text, &Options::default())
        .and_then(|t| t.render(&mut table(), lim))
        .unwrap_err()
        .to_string()
}

/// The error `text` fails to parse with.
fn unparsable(text: &str) -> String {
    Template::parse("t", text, &Options::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn cap_template_recursion_depth() {
    let e = bounded(
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" }}"#,
        SMALL,
    );
    assert!(e.contains("deeper than 16 levels"), "{e}");
    // With the agent's bounds too: the deepest recursion, each level as
    // deeply nested as a template may be, stays on a thread's stack
    // (a test thread has 2 MiB).
    let nest = MAX_NESTING - 2;
    let body = "{{ with . }}".repeat(nest) + "{{ template \"r\" . }}" + &"{{ end }}".repeat(nest);
    let t = format!("{{{{ define \"r\" }}}}{body}{{{{ end }}}}{{{{ template \"r\" 1 }}}}");
    let e = bounded(&t, Limits::default());
    assert!(e.contains("nested deeper than 256 levels"), "{e}");
    // Unnested, the template bound is reached first.
    let e = bounded(
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" }}"#,
        Limits::default(),
    );
    assert!(
        e.contains("templates call each other deeper than 64 levels"),
        "{e}"
    );
    // Two calls per level: the step bound ends it long before 2^64 calls.
    let e = bounded(
        r#"{{ define "r" }}{{ if lt . 40 }}{{ template "r" (add 1 .) }}{{ template "r" (add 1 .) }}{{ end }}{{ end }}{{ template "r" 0 }}"#,
        Limits { depth: 64, ..SMALL },
    );
    assert!(e.contains("steps"), "{e}");
}

#[test]
fn cap_steps() {
    let e = bounded("{{ range 1000000000 }}x{{ end }}", SMALL);
    assert!(e.contains("more than 100000 steps"), "{e}");
    let e = bounded(
        "{{ range 50000 }}{{ range 50000 }}{{ end }}{{ end }}",
        SMALL,
    );
    assert!(e.contains("steps"), "{e}");
    // A long pipeline: each command is a step.
    let t = "{{ 1".to_string() + &" | len".repeat(5) + " }}";
    assert!(bounded(&t, SMALL).contains("len of type int"));
    let t = "{{ \"x\"".to_string() + &" | print".repeat(200) + " }}";
    let e = bounded(
        &t,
        Limits {
            steps: 100,
            ..SMALL
        },
    );
    assert!(e.contains("more than 100 steps"), "{e}");
    // An empty `range` body still costs a step per iteration.
    let e = bounded(
        "{{ range $i := 200 }}{{ end }}",
        Limits {
            steps: 100,
            ..SMALL
        },
    );
    assert!(e.contains("steps"), "{e}");
}

#[test]
fn cap_steps_by_the_size_of_what_functions_read() {
    // A loop calling a function on a large value: the steps it costs grow
    // with the value, so the bound ends it after a few hundred calls, not
    // after its 100,000 iterations of 64 KiB each.
    let t = r#"{{ $x := printf "%65000s" "" }}{{ range 100000 }}{{ $y := toUpper $x }}{{ with secret "kv/app" }}{{ end }}{{ end }}"#;
    let t = Template::parse("t", t, &Options::default()).unwrap();
    let mut tab = table();
    let e = t.render(&mut tab, SMALL).unwrap_err().to_string();
    assert!(e.contains("more than 100000 steps"), "{e}");
    assert!(
        tab.calls.len() < 2_000,
        "{} iterations ran",
        tab.calls.len()
    );
    // Small values cost what they did.
    let t = r#"{{ range 1000 }}{{ $y := toUpper "abc" }}{{ end }}ok"#;
    let t = Template::parse("t", t, &Options::default()).unwrap();
    assert_eq!(t.render(&mut table(), SMALL).unwrap(), "ok");
}

#[test]
fn cap_range_over_an_int_allocates_nothing_up_front() {
    // A range over an int counts: it does not build the list of its
    // numbers first, so one that breaks early is not refused for its size.
    let lim = Limits {
        steps: 1_000,
        ..SMALL
    };
    let t = Template::parse(
        "t",
        "{{ range $i := 1000000000 }}{{ $i }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ end }}",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(t.render(&mut table(), lim).unwrap(), "012");
    let t = Template::parse(
        "t",
        "{{ range $k, $v := (secret \"secret/data/app\").Data.data }}{{ $k }}{{ break }}{{ end }}",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(t.render(&mut table(), lim).unwrap(), "empty");
}

#[test]
fn cap_output_size() {
    let e = bounded(
        r#"{{ range 100 }}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{ range 100 }}yyyyyyyyy{{ end }}{{ end }}"#,
        SMALL,
    );
    assert!(e.contains("the output is larger than 65536 bytes"), "{e}");
}

#[test]
fn cap_value_size() {
    // Values that double each time.
    for t in [
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}"#,
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = replaceAll "a" $x $x }}{{ end }}"#,
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = print $x $x }}{{ end }}"#,
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = indent 3 $x | printf "%s\n%s" $x }}{{ end }}"#,
        r#"{{ $x := "ab" }}{{ range 64 }}{{ $x = toJSON $x }}{{ end }}"#,
    ] {
        let e = bounded(t, SMALL);
        assert!(e.contains("larger than 65536 bytes"), "{t}: {e}");
    }
    // A list is bounded by its items: `split ""` of a long string, a
    // long JSON array.
    let e = bounded(
        r#"{{ $x := "abcdefgh" }}{{ range 11 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ split "" $x | len }}"#,
        SMALL,
    );
    assert!(
        e.contains("split: the result has more than 10000 items"),
        "{e}"
    );
    let e = bounded(
        r#"{{ $x := "0" }}{{ range 14 }}{{ $x = printf "%s,%s" $x $x }}{{ end }}{{ printf "[%s]" $x | parseJSON | len }}"#,
        SMALL,
    );
    assert!(
        e.contains("parseJSON: the document has more than 10000 values"),
        "{e}"
    );
    let t = r#"{{ $x := "0" }}{{ range 12 }}{{ $x = printf "%s,%s" $x $x }}{{ end }}{{ printf "[%s]" $x | parseJSON | len }}"#;
    let t = Template::parse("t", t, &Options::default()).unwrap();
    assert_eq!(t.render(&mut table(), SMALL).unwrap(), "4096");
}

#[test]
fn cap_printf_width_and_precision() {
    let e = bounded(r#"{{ printf "%100000000d" 1 }}"#, SMALL);
    assert!(e.contains("a width or precision larger than"), "{e}");
    let e = bounded(r#"{{ printf "%.100000000f" 1.5 }}"#, SMALL);
    assert!(e.contains("a width or precision larger than"), "{e}");
    // Within the width bound, the result is still bounded by the output.
    let e = bounded(r#"{{ printf "%1000000d" 1 }}"#, SMALL);
    assert!(e.contains("larger than 65536 bytes"), "{e}");
    for verb in ["f", "e", "F", "E"] {
        // Past the formatter's own bound (65,535), which panics.
        let e = bounded(&format!("{{{{ printf \"%.1000000{verb}\" 1.5 }}}}"), SMALL);
        assert!(e.contains("larger than 65536 bytes"), "{verb}: {e}");
    }
    // %g drops the zeros.
    for verb in ["g", "G", "v"] {
        let t = format!("{{{{ printf \"%.1000000{verb}|%.1000000{verb}\" 1.5 0.1 }}}}");
        let t = Template::parse("t", &t, &Options::default()).unwrap();
        let out = t.render(&mut table(), SMALL).unwrap();
        assert_eq!(
            out,
            "1.5|0.1000000000000000055511151231257827021181583404541015625"
        );
    }
    // Digits past an f64's exact expansion are zeros, as Go writes them.
    let lim = Limits {
        output: 4 << 20,
        ..SMALL
    };
    let t = Template::parse(
        "t",
        r#"{{ printf "%.70000f|%.70000e" 0.1 0.1 }}"#,
        &Options::default(),
    )
    .unwrap();
    let out = t.render(&mut table(), lim).unwrap();
    let (f, e) = out.split_once('|').unwrap();
    assert!(
        f.starts_with("0.1000000000000000055511151231257827021181583404541015625000"),
        "{}",
        &f[..80]
    );
    assert_eq!(f.len(), 70_002);
    assert!(f[60..].bytes().all(|b| b == b'0'));
    assert!(e.starts_with("1.000000000000000055511151231257827021181583404541015625000"));
    assert!(e.ends_with("0e-01"), "{}", &e[e.len() - 10..]);
    assert_eq!(e.len(), 70_002 + 4);
    // A `*` width out of range is not used.
    let t = Template::parse(
        "t",
        r#"{{ printf "%*d" 100000000 1 }}"#,
        &Options::default(),
    )
    .unwrap();
    assert!(t.render(&mut table(), SMALL).unwrap().len() < 20);
}

#[test]
fn cap_nesting_when_parsing() {
    let deep = "{{ if 1 }}".repeat(200) + &"{{ end }}".repeat(200);
    assert!(unparsable(&deep).contains("nested deeper than 100 levels"));
    let deep = "{{ ".to_string() + &"(".repeat(200) + "1" + &")".repeat(200) + " }}";
    assert!(unparsable(&deep).contains("deeper"));
    let deep = "{{ if 1 }}".to_string() + &"{{ else if 1 }}".repeat(200) + "{{ end }}";
    assert!(unparsable(&deep).contains("deeper"));
    let deep = "{{ define \"a\" }}".repeat(200) + &"{{ end }}".repeat(200);
    assert!(unparsable(&deep).contains("only at the top level"));
    // Just inside the bound parses.
    let ok = "{{ if 1 }}".repeat(MAX_NESTING) + "x" + &"{{ end }}".repeat(MAX_NESTING);
    assert_eq!(render(&ok), "x");
}

#[test]
fn cap_template_size() {
    let big = "x".repeat(MAX_TEMPLATE_BYTES + 1);
    assert!(unparsable(&big).contains("larger than 1048576 bytes"));
    let e = unparsable(&format!("{{{{ \"{}\" }}}}", "y".repeat(MAX_TEMPLATE_BYTES)));
    assert!(e.contains("larger than"), "{e}");
    assert_eq!(
        render(&"x".repeat(MAX_TEMPLATE_BYTES)).len(),
        MAX_TEMPLATE_BYTES
    );
}

#[test]
fn errors_do_not_show_the_values_they_are_about() {
    // Errors reach logs and the status file; the values may be secrets.
    for t in [
        "{{ (secret \"secret/data/app\").Data.data.password | parseInt }}",
        "{{ (secret \"secret/data/app\").Data.data.password | parseFloat }}",
        "{{ (secret \"secret/data/app\").Data.data.password | parseBool }}",
        "{{ (secret \"secret/data/app\").Data.data.password | add 1 }}",
        "{{ range (secret \"secret/data/app\").Data.data.password }}{{ end }}",
    ] {
        let e = fails(t);
        assert!(!e.contains("p<&>w") && !e.contains("p\\u003c"), "{t}: {e}");
        assert!(
            e.contains("not shown") || e.contains("of type string"),
            "{t}: {e}"
        );
    }
}
