pid_file = "./pidfile"
exit_after_auth = true
vault {
  address = "http://127.0.0.1:8200"
  tls_skip_verify = false
}
auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path = "role"
      secret_id_file_path = "secret"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = { path = "/tmp/token", mode = 0640 }
  }
}
template_config {
  static_secret_render_interval = "5m"
}
template {
  contents = <<-EOT
    {{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}
    EOT
  destination = "/tmp/out"
  perms = "0600"
  command = ["/bin/true"]
}
env_template "X" { contents = "{{ env \"HOME\" }}" }
exec { command = ["/bin/app"] }
