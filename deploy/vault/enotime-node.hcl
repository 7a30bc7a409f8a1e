# What an ENoTime node may do in Vault: the transit operations of the crypto
# port (docs/crypto.md), nothing else. Sealing Vault (sys/seal) is left to operators.
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
