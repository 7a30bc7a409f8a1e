# Vault server for the compose stack: file storage on a named volume.
# TLS is off here because the listener is reachable only on the compose network
# (and on 127.0.0.1 of the host); put certificates in `listener "tcp"`
# (tls_cert_file / tls_key_file) before exposing it anywhere else.
storage "file" {
  path = "/vault/file"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr      = "http://vault:8200"
ui            = true
disable_mlock = true
