# The differential suite's configuration: rendered by `bao agent` and by
# `vaultid agent`, each with its own @OUT@ directory.
pid_file        = "@OUT@/agent.pid"
exit_after_auth = true

vault {
  address = "@ADDR@"
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "@AUTH@/role_id"
      secret_id_file_path                 = "@AUTH@/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = {
      path = "@OUT@/token"
      mode = 0600
    }
  }
}

template_config {
  static_secret_render_interval = "5m"
  exit_on_retry_failure         = true
}

template {
  source      = "@FIXTURES@/arith.ctmpl"
  destination = "@OUT@/arith.out"
}

template {
  source      = "@FIXTURES@/base64-decode.ctmpl"
  destination = "@OUT@/base64-decode.out"
}

template {
  source      = "@FIXTURES@/base64-encode.ctmpl"
  destination = "@OUT@/base64-encode.out"
}

template {
  source      = "@FIXTURES@/bool-null-list-map.ctmpl"
  destination = "@OUT@/bool-null-list-map.out"
}

template {
  source      = "@FIXTURES@/break-continue.ctmpl"
  destination = "@OUT@/break-continue.out"
}

template {
  source      = "@FIXTURES@/cert-pkicert.ctmpl"
  destination = "@OUT@/cert-pkicert.out"
  perms       = "0600"
}

template {
  source      = "@FIXTURES@/cert-secret.ctmpl"
  destination = "@OUT@/cert-secret.out"
  perms       = "0600"
}

template {
  source      = "@FIXTURES@/comments.ctmpl"
  destination = "@OUT@/comments.out"
}

template {
  source      = "@FIXTURES@/conn-string.ctmpl"
  destination = "@OUT@/conn-string.out"
}

template {
  source      = "@FIXTURES@/define-template.ctmpl"
  destination = "@OUT@/define-template.out"
}

template {
  source      = "@FIXTURES@/dotenv-some-keys.ctmpl"
  destination = "@OUT@/dotenv-some-keys.out"
}

template {
  source      = "@FIXTURES@/dyn-ssh-otp.ctmpl"
  destination = "@OUT@/dyn-ssh-otp.out"
  perms       = "0600"
}

template {
  source      = "@FIXTURES@/env-var.ctmpl"
  destination = "@OUT@/env-var.out"
}

template {
  source      = "@FIXTURES@/export-quoted.ctmpl"
  destination = "@OUT@/export-quoted.out"
}

template {
  source      = "@FIXTURES@/html-urlquery.ctmpl"
  destination = "@OUT@/html-urlquery.out"
}

template {
  source      = "@FIXTURES@/if-else-chain.ctmpl"
  destination = "@OUT@/if-else-chain.out"
}

template {
  source      = "@FIXTURES@/index-dash-key.ctmpl"
  destination = "@OUT@/index-dash-key.out"
}

template {
  source      = "@FIXTURES@/json-by-hand.ctmpl"
  destination = "@OUT@/json-by-hand.out"
}

template {
  source      = "@FIXTURES@/kv1-basic.ctmpl"
  destination = "@OUT@/kv1-basic.out"
}

template {
  source      = "@FIXTURES@/kv1-range.ctmpl"
  destination = "@OUT@/kv1-range.out"
}

template {
  source      = "@FIXTURES@/kv2-basic.ctmpl"
  destination = "@OUT@/kv2-basic.out"
  perms       = "0600"
}

template {
  source      = "@FIXTURES@/kv2-short-path.ctmpl"
  destination = "@OUT@/kv2-short-path.out"
}

template {
  source      = "@FIXTURES@/kv2-version.ctmpl"
  destination = "@OUT@/kv2-version.out"
}

template {
  source      = "@FIXTURES@/len-and-compare.ctmpl"
  destination = "@OUT@/len-and-compare.out"
}

template {
  source      = "@FIXTURES@/metadata.ctmpl"
  destination = "@OUT@/metadata.out"
}

template {
  source      = "@FIXTURES@/missing-key.ctmpl"
  destination = "@OUT@/missing-key.out"
}

template {
  source      = "@FIXTURES@/nested-access.ctmpl"
  destination = "@OUT@/nested-access.out"
}

template {
  source      = "@FIXTURES@/numbers.ctmpl"
  destination = "@OUT@/numbers.out"
}

template {
  source      = "@FIXTURES@/or-default.ctmpl"
  destination = "@OUT@/or-default.out"
}

template {
  source      = "@FIXTURES@/parsejson.ctmpl"
  destination = "@OUT@/parsejson.out"
}

template {
  source      = "@FIXTURES@/pgpass.ctmpl"
  destination = "@OUT@/pgpass.out"
}

template {
  source      = "@FIXTURES@/print-funcs.ctmpl"
  destination = "@OUT@/print-funcs.out"
}

template {
  source      = "@FIXTURES@/printf-verbs.ctmpl"
  destination = "@OUT@/printf-verbs.out"
}

template {
  source      = "@FIXTURES@/range-all-keys.ctmpl"
  destination = "@OUT@/range-all-keys.out"
}

template {
  source      = "@FIXTURES@/range-list-index.ctmpl"
  destination = "@OUT@/range-list-index.out"
}

template {
  source      = "@FIXTURES@/secrets-each.ctmpl"
  destination = "@OUT@/secrets-each.out"
}

template {
  source      = "@FIXTURES@/secrets-list.ctmpl"
  destination = "@OUT@/secrets-list.out"
}

template {
  source      = "@FIXTURES@/sha256.ctmpl"
  destination = "@OUT@/sha256.out"
}

template {
  source      = "@FIXTURES@/split-join.ctmpl"
  destination = "@OUT@/split-join.out"
}

template {
  source      = "@FIXTURES@/string-funcs.ctmpl"
  destination = "@OUT@/string-funcs.out"
}

template {
  source      = "@FIXTURES@/tojson.ctmpl"
  destination = "@OUT@/tojson.out"
}

template {
  source      = "@FIXTURES@/tojson-pretty.ctmpl"
  destination = "@OUT@/tojson-pretty.out"
}

template {
  source      = "@FIXTURES@/toyaml.ctmpl"
  destination = "@OUT@/toyaml.out"
}

template {
  source      = "@FIXTURES@/toyaml-nested.ctmpl"
  destination = "@OUT@/toyaml-nested.out"
}

template {
  source      = "@FIXTURES@/trim-markers.ctmpl"
  destination = "@OUT@/trim-markers.out"
}

template {
  source      = "@FIXTURES@/variables.ctmpl"
  destination = "@OUT@/variables.out"
}

template {
  source      = "@FIXTURES@/with-else.ctmpl"
  destination = "@OUT@/with-else.out"
}

template {
  contents    = <<-EOT
    user={{ with secret "secret/data/app" }}{{ .Data.data.user }}{{ end }}
      indented line
    EOT
  destination = "@OUT@/inline-heredoc.out"
  perms       = 0640
}

template {
  contents        = "[[ with secret \"secret/data/app\" ]][[ .Data.data.user ]] {{ not a template }}[[ end ]]\n"
  destination     = "@OUT@/inline-delimiters.out"
  left_delimiter  = "[["
  right_delimiter = "]]"
}

template {
  contents             = "{{ with secret \"secret/data/app\" }}{{ .Data.data.nothing }}{{ .Data.data.user }}{{ end }}"
  destination          = "@OUT@/inline-strict.out"
  error_on_missing_key = true
}
