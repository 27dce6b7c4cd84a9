pid_file = "/home/vault/pidfile"

auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role = "app"
    }
  }
  sink "file" {
    config = {
      path = "/home/vault/.vault-token"
    }
  }
}

cache {
  use_auto_auth_token = true
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

vault {
  address = "https://vault.vault.svc:8200"
  ca_cert = "/vault/tls/ca.crt"
}

template_config {
  static_secret_render_interval = "10m"
}

template {
  destination = "/vault/secrets/db.env"
  contents    = <<-EOT
    {{- with secret "secret/data/app/db" }}
    export DB_USER="{{ .Data.data.username }}"
    export DB_PASSWORD="{{ .Data.data.password }}"
    {{- end }}
    EOT
}

template {
  destination = "/vault/secrets/tls.pem"
  perms       = "0600"
  command     = "pkill -HUP nginx"
  contents    = <<-EOT
    {{- with pkiCert "pki/issue/app" "common_name=app.example.com" "ttl=24h" }}
    {{ .Data.Cert }}{{ .Data.Key }}
    {{- end }}
    EOT
}
