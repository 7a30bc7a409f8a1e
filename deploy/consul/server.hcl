# One Consul server for the compose stack. A production cluster runs three or
# five servers (bootstrap_expect = 3) and agents on every host.
server           = true
bootstrap_expect = 1
datacenter       = "dc1"
client_addr      = "0.0.0.0"
ui_config {
  enabled = true
}
