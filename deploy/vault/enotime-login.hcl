# What the login service's nodes may do in Vault (docs/edge.md, "Data at rest").
#
# The login actor's node is an ENoTime node like the others -- its crypto actor
# also seals the store's documents and the transport's envelopes -- so it gets
# the transit operations of enotime-node.hcl, and on top of them the login
# service's keys (login-email: the encrypted copies of email addresses;
# login-email-index: their lookup HMAC; login-secret: TOTP secrets and JWT
# signing keys), which enotime-node.hcl denies to every other node.
#
# Give this policy alone to the login service's token (AppRole enotime-login):
# a token that also carried enotime-node would be denied the login keys (a deny
# wins over a grant of the same path in another policy).

# -- the login service's own keys: create (at its first start), use, rotate --
path "transit/keys/login-*" {
  capabilities = ["create", "read", "update"]
}
path "transit/encrypt/login-*" {
  capabilities = ["update"]
}
path "transit/decrypt/login-*" {
  capabilities = ["update"]
}
path "transit/rewrap/login-*" {
  capabilities = ["update"]
}
path "transit/hmac/login-*" {
  capabilities = ["update"]
}
path "transit/verify/login-*" {
  capabilities = ["update"]
}

# -- what every node does (as enotime-node.hcl, without its denies) --
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
