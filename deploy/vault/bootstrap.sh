#!/bin/sh
# Bootstrap Vault for ENoTime: initialise (first run only), unseal, enable the
# transit engine, write the nodes' policy and an AppRole for them -- and, when
# its policy file is there, the login service's policy and AppRole
# (enotime-login: the only one granted the login-* keys, docs/edge.md).
#
# Idempotent: run it again after every Vault restart (Vault starts sealed):
#   docker compose run --rm vault-bootstrap
#
# The unseal keys and the root token are written to $VAULT_BOOTSTRAP_DIR/init.txt
# (a volume only this container mounts). That is what lets this stack unseal
# itself; in a real deployment hand the keys to their custodians, delete the
# file and revoke the root token (docs/deploy.md).
set -eu

: "${VAULT_ADDR:?set VAULT_ADDR}"
OUT=${VAULT_BOOTSTRAP_DIR:-/vault/bootstrap}
SHARES=${VAULT_KEY_SHARES:-5}
THRESHOLD=${VAULT_KEY_THRESHOLD:-3}
POLICY=${VAULT_NODE_POLICY:-/bootstrap/enotime-node.hcl}
LOGIN_POLICY=${VAULT_LOGIN_POLICY:-/bootstrap/enotime-login.hcl}
umask 077

# Wait (bounded) until Vault answers: `vault status` exits 0 unsealed, 2 sealed, 1 unreachable.
tries=0
while :; do
  code=0
  vault status >/dev/null 2>&1 || code=$?
  [ "$code" -ne 1 ] && break
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "vault-bootstrap: Vault at $VAULT_ADDR did not answer in 60 s" >&2
    exit 1
  fi
  sleep 1
done

# `vault operator init -status` exits 0 initialised, 2 not initialised, 1 error.
code=0
vault operator init -status >/dev/null 2>&1 || code=$?
if [ "$code" -eq 2 ]; then
  echo "vault-bootstrap: initialising ($SHARES shares, threshold $THRESHOLD)"
  vault operator init -key-shares="$SHARES" -key-threshold="$THRESHOLD" >"$OUT/init.txt"
elif [ "$code" -ne 0 ]; then
  echo "vault-bootstrap: cannot read Vault's init status" >&2
  exit 1
fi
if [ ! -s "$OUT/init.txt" ]; then
  echo "vault-bootstrap: Vault is initialised but $OUT/init.txt is missing: unseal by hand" >&2
  exit 1
fi

code=0
vault status >/dev/null 2>&1 || code=$?
if [ "$code" -eq 2 ]; then
  echo "vault-bootstrap: unsealing"
  grep '^Unseal Key' "$OUT/init.txt" | head -n "$THRESHOLD" | awk '{print $NF}' |
    while read -r key; do
      vault operator unseal "$key" >/dev/null
    done
fi

VAULT_TOKEN=$(awk '/^Initial Root Token:/ {print $NF}' "$OUT/init.txt")
export VAULT_TOKEN

if ! vault secrets list | grep -q '^transit/'; then
  echo "vault-bootstrap: enabling transit"
  vault secrets enable transit
fi
vault policy write enotime-node "$POLICY"
if ! vault auth list | grep -q '^approle/'; then
  vault auth enable approle
fi
vault write auth/approle/role/enotime-node \
  token_policies=enotime-node token_ttl=1h token_max_ttl=4h secret_id_ttl=0 >/dev/null
vault read -field=role_id auth/approle/role/enotime-node/role-id >"$OUT/role-id"
if [ ! -s "$OUT/secret-id" ]; then
  vault write -f -field=secret_id auth/approle/role/enotime-node/secret-id >"$OUT/secret-id"
fi

# The login service's own role: its nodes log in with login-role-id / login-secret-id.
if [ -f "$LOGIN_POLICY" ]; then
  vault policy write enotime-login "$LOGIN_POLICY"
  vault write auth/approle/role/enotime-login \
    token_policies=enotime-login token_ttl=1h token_max_ttl=4h secret_id_ttl=0 >/dev/null
  vault read -field=role_id auth/approle/role/enotime-login/role-id >"$OUT/login-role-id"
  if [ ! -s "$OUT/login-secret-id" ]; then
    vault write -f -field=secret_id auth/approle/role/enotime-login/secret-id \
      >"$OUT/login-secret-id"
  fi
else
  echo "vault-bootstrap: no $LOGIN_POLICY: no enotime-login role; nodes may not use the login keys" >&2
fi
echo "vault-bootstrap: done (transit enabled; AppRole enotime-node in $OUT/role-id, secret-id)"
