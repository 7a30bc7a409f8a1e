"""The Vault policies under ``deploy/vault``: the login service's keys are its alone.

No Vault can be installed here, so the policies are parsed (the small subset
of HCL they are written in: ``path "<glob>" { capabilities = [...] }``
blocks and comments, nothing else -- anything else fails the parse) and
evaluated as Vault evaluates ACL policies: of the rules whose path matches a
request, the most specific one decides (Vault's documented priority rules),
and ``deny`` in it refuses. The requests are those the Vault crypto engine
sends (hvac's transit paths) for every operation of the crypto port, on the
keys a system uses: the store's and the accounts', and the login actor's.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from enotime.login import LoginConfig
from enotime.login._memberships import ACCOUNT
from enotime.store import DocumentType

VAULT = Path(__file__).resolve().parents[2] / "deploy" / "vault"

_COMMENT = re.compile(r"#[^\n]*")
_BLOCK = re.compile(r'\s*path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}\s*')
_CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny"})

LOGIN_KEYS = (LoginConfig().email_key, LoginConfig().lookup_key, LoginConfig().secret_key)
NODE_KEYS = tuple(
    {key for kind in (DocumentType("any"), ACCOUNT) for key in (kind.key, kind.index_key)}
)


@dataclass(frozen=True)
class Rule:
    path: str
    capabilities: frozenset[str]

    def matches(self, path: str) -> bool:
        """Vault's globs: ``+`` one path segment, a trailing ``*`` any rest."""
        glob = self.path
        prefix = glob.endswith("*")
        parts = (glob[:-1] if prefix else glob).split("+")
        pattern = "[^/]+".join(re.escape(part) for part in parts)
        return re.fullmatch(pattern + (".*" if prefix else ""), path) is not None

    @property
    def priority(self) -> tuple[int, bool, int, int, str]:
        """Higher wins (Vault's ACL rules, in order): the first wildcard later; no trailing
        ``*``; fewer ``+``; a longer path; the lexicographically larger path."""
        wildcards = [i for i, char in enumerate(self.path) if char in "+*"]
        first = wildcards[0] if wildcards else len(self.path)
        return (
            first,
            not self.path.endswith("*"),
            -self.path.count("+"),
            len(self.path),
            self.path,
        )


def policy(name: str) -> list[Rule]:
    """The rules of ``deploy/vault/<name>.hcl``; anything the parser does not know fails."""
    text = _COMMENT.sub("", (VAULT / f"{name}.hcl").read_text())
    rules: list[Rule] = []
    end = 0
    for block in _BLOCK.finditer(text):
        assert block.start() == end, f"{name}.hcl: cannot read {text[end : block.start()]!r}"
        capabilities = frozenset(re.findall(r'"([a-z]+)"', block.group(2)))
        assert capabilities <= _CAPABILITIES, capabilities
        assert block.group(1) not in {rule.path for rule in rules}, f"{block.group(1)} twice"
        rules.append(Rule(block.group(1), capabilities))
        end = block.end()
    assert text[end:].strip() == "", f"{name}.hcl: cannot read {text[end:]!r}"
    assert rules, f"{name}.hcl has no rules"
    return rules


def allowed(rules: list[Rule], capability: str, path: str) -> bool:
    """Whether a token with these rules alone may ``capability`` on ``path``."""
    matching = [rule for rule in rules if rule.matches(path)]
    if not matching:
        return False
    decides = max(matching, key=lambda rule: rule.priority)
    return "deny" not in decides.capabilities and capability in decides.capabilities


def requests(key: str) -> list[tuple[str, str]]:
    """Every request the Vault crypto engine makes on ``key``: (capability, path)."""
    return [
        ("create", f"transit/keys/{key}"),  # create_key: POST to a new key
        ("update", f"transit/keys/{key}"),  # ... and to an existing one
        ("read", f"transit/keys/{key}"),  # key_info, public keys
        ("update", f"transit/keys/{key}/rotate"),
        ("update", f"transit/keys/{key}/config"),  # min_decryption_version
        *(
            ("update", f"transit/{operation}/{key}")
            for operation in ("encrypt", "decrypt", "rewrap", "hmac", "sign", "verify")
        ),
        ("update", f"transit/datakey/plaintext/{key}"),
    ]


def login_requests() -> list[tuple[str, str]]:
    """What the login actor does with its keys: create them, encrypt, decrypt, HMAC."""
    return [
        request
        for key in LOGIN_KEYS
        for request in requests(key)
        if not request[1].startswith(("transit/sign/", "transit/datakey/"))
    ]


def test_the_policies_parse_as_vault_reads_them() -> None:
    assert {p.stem for p in VAULT.glob("*.hcl")} >= {"enotime-node", "enotime-login"}
    for name in ("enotime-node", "enotime-login"):
        policy(name)
    assert Rule("transit/keys/+/rotate", frozenset()).matches("transit/keys/store/rotate")
    assert not Rule("transit/keys/+/rotate", frozenset()).matches("transit/keys/a/b/rotate")
    assert Rule("transit/encrypt/login-*", frozenset()).matches("transit/encrypt/login-email")


@pytest.mark.parametrize("key", LOGIN_KEYS)
def test_the_node_policy_grants_nothing_on_the_login_keys(key: str) -> None:
    node = policy("enotime-node")
    for capability, path in requests(key):
        assert not allowed(node, capability, path), (capability, path)
    for capability in _CAPABILITIES:
        assert not allowed(node, capability, f"transit/keys/{key}"), capability


def test_only_the_login_policy_grants_the_login_email_key() -> None:
    granting = {
        path.stem
        for path in VAULT.glob("*.hcl")
        if path.stem != "vault"  # the server's configuration, not a policy
        and any(allowed(policy(path.stem), c, p) for c, p in requests(LoginConfig().email_key))
    }
    assert granting == {"enotime-login"}


def test_the_login_policy_grants_what_the_login_actor_does_with_its_keys() -> None:
    login = policy("enotime-login")
    for capability, path in login_requests():
        assert allowed(login, capability, path), (capability, path)


@pytest.mark.parametrize("name", ["enotime-node", "enotime-login"])
def test_every_node_still_does_all_the_crypto_port_does_on_the_other_keys(name: str) -> None:
    rules = policy(name)
    for key in NODE_KEYS:
        for capability, path in requests(key):
            assert allowed(rules, capability, path), (name, capability, path)
    # Nothing outside the transit operations: no export, backup, sys or auth paths.
    for capability, path in [
        ("read", f"transit/export/encryption-key/{NODE_KEYS[0]}"),
        ("read", f"transit/backup/{NODE_KEYS[0]}"),
        ("update", "sys/seal"),
        ("update", "sys/policies/acl/enotime-node"),
        ("delete", f"transit/keys/{NODE_KEYS[0]}"),
    ]:
        assert not allowed(rules, capability, path), (name, capability, path)


def test_the_bootstrap_writes_the_login_policy_and_its_own_role() -> None:
    script = (VAULT / "bootstrap.sh").read_text()
    assert subprocess.run(["sh", "-n", str(VAULT / "bootstrap.sh")], check=False).returncode == 0
    assert 'vault policy write enotime-login "$LOGIN_POLICY"' in script
    assert "auth/approle/role/enotime-login" in script
    assert "token_policies=enotime-login " in script  # its policy alone, not enotime-node too
