# What an ENoTime node may do in Vault: the transit operations of the crypto
# port (docs/crypto.md), nothing else. Sealing Vault (sys/seal) is left to operators.
#
# Except on the login service's keys (login-*: the encrypted copies of email
# addresses, their lookup HMAC, TOTP secrets and JWT signing keys): those are
# the login service's alone, through its own token (enotime-login.hcl). The
# denies at the end win over the grants here: Vault applies the most specific
# matching path, and login-* is more specific than *. Never give one token both
# policies: a deny also wins over a grant of the same path in another policy.
path "transit/keys/*" {
  capabilities = ["create", "read", "update"]
}
path "transit/keys/+/rotate" {
  capabilities = ["update"]
}
path "transit/keys/+/config" {
  capabilities = ["update"]
}
path "transit/encrypt/*" {
  capabilities = ["update"]
}
path "transit/decrypt/*" {
  capabilities = ["update"]
}
path "transit/rewrap/*" {
  capabilities = ["update"]
}
path "transit/hmac/*" {
  capabilities = ["update"]
}
path "transit/sign/*" {
  capabilities = ["update"]
}
path "transit/verify/*" {
  capabilities = ["update"]
}
path "transit/datakey/plaintext/*" {
  capabilities = ["update"]
}

# The login service's keys: denied to every node that is not the login service.
path "transit/keys/login-*" {
  capabilities = ["deny"]
}
path "transit/encrypt/login-*" {
  capabilities = ["deny"]
}
path "transit/decrypt/login-*" {
  capabilities = ["deny"]
}
path "transit/rewrap/login-*" {
  capabilities = ["deny"]
}
path "transit/hmac/login-*" {
  capabilities = ["deny"]
}
path "transit/sign/login-*" {
  capabilities = ["deny"]
}
path "transit/verify/login-*" {
  capabilities = ["deny"]
}
path "transit/datakey/plaintext/login-*" {
  capabilities = ["deny"]
}
