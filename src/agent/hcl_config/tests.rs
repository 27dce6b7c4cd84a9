//! Vault Agent HCL read onto the agent's model: a full file, and every
//! stanza or key that is not mapped refused with its line.

use super::*;

const FULL: &str = r#"
pid_file = "/tmp/agent.pid"
exit_after_auth = false

vault {
  address = "http://127.0.0.1:8200"
  tls_skip_verify = "true"
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path = "/etc/role"
      secret_id_file_path = "/etc/secret"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    wrap_ttl = "5m"
    config = {
      path = "/tmp/token"
      mode = 0640
    }
  }
}

template_config {
  static_secret_render_interval = "10m"
  exit_on_retry_failure = true
}

template {
  source      = "/etc/tmpl/db.ctmpl"
  destination = "/run/db.conf"
  perms       = "0600"
  command     = "systemctl reload app"
}

template {
  contents = <<EOT
{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}
EOT
  destination = "/run/pw"
  left_delimiter = "[["
  right_delimiter = "]]"
  error_on_missing_key = true
}

env_template "DB_PASSWORD" {
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}"
}

exec {
  command = ["/bin/app", "--serve"]
  restart_on_secret_changes = "always"
  restart_stop_signal = "SIGINT"
}
"#;

#[test]
fn a_full_config_maps_onto_the_model() {
    let c = parse(FULL.as_bytes(), "agent.hcl").unwrap();
    assert!(!c.restore_identity);
    assert_eq!(c.pid_file.as_deref(), Some("/tmp/agent.pid".as_ref()));
    let v = c.vault.as_ref().unwrap();
    assert_eq!(v.address.as_deref(), Some("http://127.0.0.1:8200"));
    assert_eq!(v.tls_skip_verify, Some(true));
    let a = c.auto_auth.as_ref().unwrap();
    assert_eq!(a.method, "approle");
    assert_eq!(
        a.config["remove_secret_id_file_after_reading"],
        Json::Bool(false)
    );
    assert_eq!(c.token.sink.as_deref(), Some("/tmp/token".as_ref()));
    assert_eq!(c.token.sink_mode.as_deref(), Some("0640"));
    assert_eq!(c.token.wrap_ttl.as_deref(), Some("5m"));
    assert_eq!(c.templates.len(), 2);
    assert_eq!(
        c.templates[0].command.as_deref(),
        Some(&["sh".to_string(), "-c".into(), "systemctl reload app".into()][..])
    );
    assert_eq!(
        c.templates[1].contents.as_deref(),
        Some("{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}\n")
    );
    assert!(c.templates[1].error_on_missing_key);
    assert_eq!(c.templates[1].left_delimiter.as_deref(), Some("[["));
    assert_eq!(
        c.static_secret_render_interval(),
        std::time::Duration::from_secs(600)
    );
    assert!(c.template_config.exit_on_retry_failure);
    assert_eq!(c.env_templates[0].name, "DB_PASSWORD");
    let x = c.exec.as_ref().unwrap();
    assert_eq!(x.command, ["/bin/app", "--serve"]);
    assert_eq!(x.restart_stop_signal.as_deref(), Some("SIGINT"));
}

fn err(text: &str) -> String {
    parse(text.as_bytes(), "agent.hcl").unwrap_err().to_string()
}

#[test]
fn unsupported_stanzas_and_keys_are_named_with_their_line() {
    let cases: &[(&str, &str)] = &[
            ("listener \"tcp\" {\n address = \"x\"\n}", "line 1, column 1: `listener`"),
            ("cache {}\n", "`cache`"),
            ("\nvault {\n  retry { num_retries = 1 }\n}", "line 3, column 3: `retry` in `vault`"),
            ("template {\n destination = \"x\"\n contents = \"\"\n wait { min = \"1s\" }\n}", "line 4, column 2: `wait` in `template`"),
            ("auto_auth {\n method \"aws\" {\n config = { role = \"x\" }\n }\n}", "line 2, column 2: auto_auth method \"aws\""),
            ("auto_auth {\n method \"approle\" {\n config = { role_id_file_path = \"r\"\n  secret_id_response_wrapping_path = \"w\" }\n }\n}", "line 4, column 3: `secret_id_response_wrapping_path`"),
            ("auto_auth {\n sink \"file\" {\n config = { path = \"p\" }\n dh_type = \"curve25519\"\n }\n}", "line 4, column 2: `dh_type` in `sink`"),
            ("exec {\n command = [\"a\"]\n child_process_stdout = \"x\"\n}", "line 3, column 2: `child_process_stdout`"),
            ("template_config {\n max_connections_per_host = 3\n}", "`max_connections_per_host`"),
        ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.contains("agent.hcl") && e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn values_are_checked() {
    assert!(err("template {\n destination = \"x\"\n}")
        .contains("exactly one of `source` and `contents`"));
    assert!(err("template {\n contents = \"x\"\n}").contains("needs `destination`"));
    assert!(
        err("template {\n contents = \"x\"\n destination = \"d\"\n perms = \"rw\"\n}")
            .contains("line 4")
    );
    assert!(
        err("template_config {\n static_secret_render_interval = \"soon\"\n}").contains("soon")
    );
    assert!(
        err("exec {\n command = [\"a\"]\n restart_on_secret_changes = \"sometimes\"\n}")
            .contains("sometimes")
    );
    assert!(err("pid_file = \"a\"\npid_file = \"b\"")
        .contains("line 2, column 1: `pid_file` is given twice"));
    assert!(err("env_template {\n contents = \"x\"\n}").contains("one label"));
    assert!(
        err("auto_auth {\n method \"approle\" {\n config = {}\n }\n}")
            .contains("role_id_file_path")
    );
    assert!(err("exit_after_auth = 3").contains("true or false"));
    assert!(err("template {\n contents = \"a\"\n destination = \"/x\"\n}\ntemplate {\n contents = \"b\"\n destination = \"/x\"\n}").contains("twice"));
}

#[test]
fn the_migration_example_is_refused_then_runs_without_cache_and_listener() {
    let doc = include_str!("../../../docs/migrating-from-vault-agent.md");
    let start = doc.find("```hcl\npid_file").unwrap() + 7;
    let end = start + doc[start..].find("```").unwrap();
    let hcl = &doc[start..end];
    let e = parse(hcl.as_bytes(), "agent.hcl").unwrap_err().to_string();
    assert!(e.contains("line 17, column 1: `cache`"), "{e}");
    let kept: String = {
        let a = hcl.find("cache {").unwrap();
        let b = hcl.find("vault {").unwrap();
        format!("{}{}", &hcl[..a], &hcl[b..])
    };
    let c = parse(kept.as_bytes(), "agent.hcl").unwrap();
    assert_eq!(c.templates.len(), 2);
    assert_eq!(c.auto_auth.as_ref().unwrap().method, "kubernetes");
    assert_eq!(
        c.static_secret_render_interval(),
        std::time::Duration::from_secs(600)
    );
    // The templates parse (every function is known).
    super::super::templates::Templates::new(&c).unwrap();
}

#[test]
fn json_and_hcl_are_told_apart() {
    assert!(is_hcl("a.hcl".as_ref(), b"{"));
    assert!(!is_hcl("a.json".as_ref(), b"vault {}"));
    assert!(!is_hcl("agent.conf".as_ref(), b"  {\"sources\": []}"));
    assert!(is_hcl("agent.conf".as_ref(), b"# c\nvault {}"));
}

#[test]
fn the_json_config_takes_the_same_model() {
    let c = AgentConfig::parse(
            br#"{"restore_identity": false, "templates": [{"contents": "x", "destination": "/t"}],
                 "template_config": {"static_secret_render_interval": "1m"},
                 "env_templates": [{"name": "A", "contents": "y"}], "exec": {"command": ["true"]}}"#,
            "agent.json",
        )
        .unwrap();
    assert_eq!(c.templates[0].destination, PathBuf::from("/t"));
    assert_eq!(
        c.static_secret_render_interval(),
        std::time::Duration::from_secs(60)
    );
}
