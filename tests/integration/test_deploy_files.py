"""The files under ``deploy/`` are correct, as far as this machine can tell without containers.

- ``promtool`` checks the Prometheus configuration and rules;
- the compose file, Grafana provisioning and Consul service definitions parse
  and name files that exist; ``docker compose config -q`` validates the
  compose file where a compose CLI is installed (no engine needed);
- a real Prometheus, started here on loopback with the deploy configuration's
  ``enotime`` job (Consul discovery swapped for a file that carries the labels
  Consul discovery gives) and our rules, scrapes an ENoTime node running in the
  test's event loop while traffic flows -- through its actors, its transport
  (RabbitMQ when it answers, else the in-process one), its store and crypto
  actors, and the reference system's HTTP front and login actor (registration,
  verification, logins, MFA, refused tokens, a rate limit); every PromQL
  expression of every dashboard panel, with its variables resolved as Grafana
  would, returns data, and every rule evaluates without error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
import pyotp
import pytest
import yaml
from prometheus_client import CollectorRegistry, ProcessCollector

from enotime import Actor, Node, child, count_children, handler, supervisor
from enotime._cli import _parser
from enotime._connect import ConnectOptions, connect_options
from enotime.auth import Jwks
from enotime.crypto import CryptoClient, CryptoError, CryptoService, EmbeddedCryptoEngine
from enotime.edge import Where
from enotime.errors import EnotimeError
from enotime.mail import Outbox, Pending
from enotime.messages import Request
from enotime.metrics import (
    API_METRICS,
    CRYPTO_METRICS,
    LOGIN_METRICS,
    NODE_METRICS,
    STORE_METRICS,
    TRANSPORT_METRICS,
    measure,
    metrics_child,
    server_address,
)
from enotime.registry import NODE_SERVICE
from enotime.registry._port import NODE_META
from enotime.store import DocumentType, NotFound, Record, SQLiteStore, StoreClient, StoreService
from enotime.transport import Keyring, LocalBroker, LocalTransport, WireKey, message
from enotime.transport._base import TransportBase
from supervisors.demo import system as demo_system
from tests.contract.test_transport import AMQP_URL, _amqp_answers
from tests.unit.metrics._support import running_prometheus
from tests.unit.metrics.test_metrics_prometheus import targets

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "rules" / "enotime.yml"
COMPOSE = DEPLOY / "compose.yml"
DEADLINE = 45.0
"""Seconds Prometheus gets to start, and then for every panel to return data."""
RULE_COUNT = 16
"""Recording and alerting rules in ``RULES``."""
SECRETS = (
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "COUCHDB_USER",
    "COUCHDB_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "ENOTIME_WIRE_KEYS",
)

# Grafana's built-in interval variables, as they would be with a 200 ms scrape
# interval over the last few minutes.
BUILTINS = {"__rate_interval": "5s", "__interval": "1s", "__range": "5m"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def promtool(require_service: Callable[[str], NoReturn]) -> str:
    """The path of promtool (Debian package ``prometheus``, installed by .ci/run)."""
    binary = shutil.which("promtool")
    if binary is None:
        require_service("promtool not found (Debian package `prometheus`)")
    return binary


# --- static checks ---------------------------------------------------------------------


def test_promtool_checks_the_rules(promtool: str) -> None:
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def _local_config(tmp_path: Path, *, consul_to_file: bool) -> Path:
    """The deploy configuration with rule files at their repository path (promtool reads them)."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["rule_files"] = [str(RULES.parent / "*.yml")]
    if consul_to_file:
        for job in config["scrape_configs"]:
            if job.pop("consul_sd_configs", None) is not None:
                targets_file = tmp_path / f"{job['job_name']}.json"
                targets_file.write_text("[]")
                job["file_sd_configs"] = [{"files": [str(targets_file)]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_promtool_checks_the_config_with_consul_discovery(tmp_path: Path, promtool: str) -> None:
    path = _local_config(tmp_path, consul_to_file=False)
    checked = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    output = checked.stdout + checked.stderr
    if "field consul_sd_configs not found" in output:
        # Debian builds Prometheus without Consul discovery ("Disable Consul SD until its
        # Debian package is back in shape"); upstream builds and the prom/prometheus image
        # have it. The rest of the file is checked by the next test.
        pytest.skip("this promtool is built without Consul service discovery (Debian)")
    assert checked.returncode == 0, output


def test_promtool_checks_the_rest_of_the_config(tmp_path: Path, promtool: str) -> None:
    """Everything but the ``consul_sd_configs`` block, which Debian's promtool cannot parse."""
    path = _local_config(tmp_path, consul_to_file=True)
    checked = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {RULE_COUNT} rules found" in checked.stdout


# The fields of Prometheus's <consul_sd_config> (configuration docs, 2.x).
CONSUL_SD_FIELDS = {
    "server", "path_prefix", "token", "datacenter", "namespace", "partition", "scheme",
    "username", "password", "services", "tags", "node_meta", "tag_separator", "allow_stale",
    "refresh_interval", "basic_auth", "authorization", "oauth2", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2",
    "tls_config", "filter",
}  # fmt: skip


def test_nodes_are_discovered_as_the_consul_service_they_register_as(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scrape_configs = load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
    [job] = [j for j in scrape_configs if j["job_name"] == "enotime"]
    [consul] = job["consul_sd_configs"]
    assert set(consul) <= CONSUL_SD_FIELDS
    assert consul["services"] == [NODE_SERVICE]
    relabel_sources = {s for rule in job["relabel_configs"] for s in rule["source_labels"]}
    assert f"__meta_consul_service_metadata_{NODE_META}" in relabel_sources
    assert "__meta_consul_service_metadata_metrics_port" in relabel_sources
    # The stack's nodes register themselves under that service (`enotime run --consul`),
    # at the agent Prometheus asks, with their name as address and metrics_port.
    services = load_yaml(COMPOSE)["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("node-")}
    assert nodes
    for name, service in nodes.items():
        options = _node_options(service, monkeypatch)
        assert options.consul == f"http://{consul['server']}"
        assert urlsplit(options.amqp_url).hostname in services  # the stack's rabbitmq
        assert options.advertise_address == name == service["hostname"]
        args = _parser().parse_args(service["command"])
        assert args.name == name
        assert options.node_meta(args.metrics_port) == {"metrics_port": "9464"}
    assert not (DEPLOY / "consul" / "enotime-nodes.json").exists()  # no static stop-gap


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as compose makes it: ``${VAR:?message}`` with placeholder
    secrets, ``${VAR:-default}`` with its default."""
    placeholders = {name: "checked-here" for name in SECRETS}
    placeholders["ENOTIME_WIRE_KEYS"] = WireKey.generate("k1").encoded()

    def interpolate(value: str) -> str:
        value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: placeholders[m[1]], value)
        return re.sub(r"\$\{\w+:-([^}]*)\}", lambda m: m[1], value)

    environment = {var: interpolate(str(value)) for var, value in service["environment"].items()}
    assert "${" not in str(environment), environment
    return environment


def _node_options(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ConnectOptions:
    """What ``enotime run`` makes of a compose node's command and environment."""
    for var in ("ENOTIME_AMQP_URL", "ENOTIME_WIRE_KEYS", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for var, value in _environment(service).items():
        monkeypatch.setenv(var, value)
    options = connect_options(_parser().parse_args(service["command"]))
    assert options is not None, "the node does not connect (--amqp)"
    return options


def _volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Named volume -> where the service mounts it."""
    mounts = (v.split(":") for v in service.get("volumes", []))
    return {source: target for source, target, *_ in mounts if not source.startswith(".")}


def _handed_files(script: str) -> dict[str, str]:
    """What vault-bootstrap's entrypoint copies: destination path -> source file name.

    Every copied file must then be owned by one uid and readable by it alone."""
    handed: dict[str, str] = {}
    for command in (part.split() for part in script.split("&&")):
        if command[0] == "cp":
            *sources, destination = command[1:]
            for source in sources:
                name = source.rpartition("/")[2]
                target = destination + name if destination.endswith("/") else destination
                handed[target] = name
    owners = [c.split() for c in script.split("&&") if c.split()[0] in ("chown", "chmod")]
    for command in owners:
        assert set(command[2:]) == set(handed), command
    assert sorted(c[:2][0] for c in owners) == ["chmod", "chown"]
    assert [c[1] for c in owners if c[0] == "chmod"] == ["0400"]
    return handed


def test_the_nodes_run_the_reference_system_on_couchdb_and_vault(tmp_path: Path) -> None:
    """Each node's tree, built from its compose environment: CouchDB and Vault of the stack;
    the login service on a node of its own with the login AppRole, the API nodes' fronts
    published on the host; each AppRole's credentials handed by the bootstrap to its nodes."""
    from enotime.crypto import CryptoService, VaultCryptoEngine
    from enotime.edge import EdgeConfig
    from supervisors import production

    services = load_yaml(COMPOSE)["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("node-")}
    bootstrap = services["vault-bootstrap"]
    assert bootstrap["entrypoint"][:2] == ["/bin/sh", "-c"]
    [script] = bootstrap["entrypoint"][2:]
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
    assert "init.txt" not in script  # the unseal keys and root token stay where they are
    handed = _handed_files(script)
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    [uid] = re.findall(r"useradd .*--uid (\d+)", dockerfile)
    assert f"chown {uid} " in script
    # The bootstrap reads both policies where compose mounts them.
    mounted = {
        target: (DEPLOY / source).resolve()
        for source, target, *_ in (v.split(":") for v in bootstrap["volumes"])
        if source.startswith(".")
    }
    script_text = (DEPLOY / "vault" / "bootstrap.sh").read_text()
    defaults = dict(re.findall(r"^\w+=\$\{(VAULT_\w+_POLICY):-(\S+)\}$", script_text, re.M))
    assert mounted[defaults["VAULT_NODE_POLICY"]] == DEPLOY / "vault" / "enotime-node.hcl"
    assert mounted[defaults["VAULT_LOGIN_POLICY"]] == DEPLOY / "vault" / "enotime-login.hcl"
    bootstrap_volumes = _volume_targets(bootstrap)
    extras = re.findall(r'pip install .*"\.\[([a-z,]+)\]"', dockerfile)
    assert {"metrics", "amqp", "consul", "couchdb", "vault", "edge"} <= set(extras[0].split(","))

    kinds: dict[str, list[str]] = {
        "supervisors.production:login": [],
        "supervisors.production:system": [],
    }
    for name, service in nodes.items():
        command = service["command"]
        assert command[0] == "run"
        kinds[command[1]].append(name)
        is_login = command[1] == "supervisors.production:login"
        assert service["depends_on"]["couchdb"] == {"condition": "service_healthy"}
        assert "healthcheck" in services["couchdb"]
        assert service["depends_on"]["vault-bootstrap"] == {
            "condition": "service_completed_successfully"
        }
        env = _environment(service)
        [(volume, target)] = _volume_targets(service).items()
        assert service["volumes"] == [f"{volume}:{target}:ro"]
        for var, credential in (
            ("VAULT_ROLE_ID_FILE", "role-id"),
            ("VAULT_SECRET_ID_FILE", "secret-id"),
        ):
            directory, _, file = env[var].rpartition("/")
            assert directory == target, (name, var)
            source = handed[f"{bootstrap_volumes[volume]}/{file}"]
            assert source == (f"login-{credential}" if is_login else credential), (name, var)
            (tmp_path / file).write_text(f"{source}-value\n")
            env[var] = str(tmp_path / file)
        built = production.login(env) if is_login else production.system(env)
        tree = {c.id: c for c in built.kwargs["children"]}
        assert tree["crypto"].factory is CryptoService
        [engine] = tree["crypto"].args
        assert isinstance(engine, VaultCryptoEngine)
        assert urlsplit(env["VAULT_ADDR"]).hostname in services
        assert urlsplit(env["ENOTIME_COUCHDB_URL"]).hostname in services
        assert env["ENOTIME_COUCHDB_USER"] == env["ENOTIME_COUCHDB_PASSWORD"] == "checked-here"
        if is_login:
            assert "login" in tree
            assert "ports" not in service
            continue
        assert "login" not in tree  # reached through the cluster
        [edge] = [a for a in tree["front"].args if isinstance(a, EdgeConfig)]
        assert edge.host == "0.0.0.0"
        [published] = service["ports"]
        host, host_port, container_port = published.split(":")
        assert (host, int(container_port)) == ("127.0.0.1", edge.port)
        assert host_port == f"800{name.removeprefix('node-')}"
    assert len(kinds["supervisors.production:login"]) == 1
    assert len(kinds["supervisors.production:system"]) >= 3
    # Each AppRole's credentials reach only the nodes of its kind.
    for kind, names in kinds.items():
        volumes = {next(iter(_volume_targets(nodes[name]))) for name in names}
        assert len(volumes) == 1, kind
    assert len({next(iter(_volume_targets(n))) for n in nodes.values()}) == 2


def _bind_mounts(service: dict[str, Any]) -> Iterator[Path]:
    for volume in service.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith("."):
            yield (DEPLOY / source).resolve()


def test_the_compose_file_names_files_that_exist() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    expected = {"consul", "vault", "vault-bootstrap", "rabbitmq", "couchdb", "prometheus"}
    assert expected | {"grafana"} <= set(services)
    nodes = [name for name in services if name.startswith("node-")]
    assert len(nodes) >= 3
    for name, service in services.items():
        for path in _bind_mounts(service):
            assert path.exists(), f"{name} mounts {path}, which does not exist"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    for name in nodes:
        node = services[name]
        build = node["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
        command = " ".join(node["command"])
        assert f"--name {name} " in command
        assert "--metrics-port 9464 --metrics-host 0.0.0.0" in command
        assert "--log-format json" in command
    # The Dockerfile runs what the CLI offers.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert '"--metrics-host", "0.0.0.0"' in dockerfile
    for copied in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / copied).exists(), copied
    # Grafana gets the provisioning and the dashboards where the provisioning looks.
    grafana = {
        target: (DEPLOY / source).resolve()
        for source, target, *_ in (v.split(":") for v in services["grafana"]["volumes"])
    }
    assert grafana["/etc/grafana/provisioning"] == DEPLOY / "grafana" / "provisioning"
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/enotime.yml")["providers"][0]
    assert grafana[provider["options"]["path"]] == DEPLOY / "grafana" / "dashboards"
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    directory, _, file = home.rpartition("/")
    assert (grafana[directory] / file).is_file()
    # Prometheus gets its configuration and the rules where the configuration looks.
    prometheus = {
        target: (DEPLOY / source).resolve()
        for source, target, *_ in (v.split(":") for v in services["prometheus"]["volumes"])
        if source.startswith(".")
    }
    assert prometheus["/etc/prometheus/prometheus.yml"] == PROMETHEUS_CONFIG
    [rule_glob] = load_yaml(PROMETHEUS_CONFIG)["rule_files"]
    directory, _, pattern = rule_glob.rpartition("/")
    assert list(prometheus[directory].glob(pattern)) == [RULES]


def test_the_grafana_datasource_is_the_stack_prometheus() -> None:
    [source] = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in load_yaml(COMPOSE)["services"]
    assert source["isDefault"] is True


def _compose_cli() -> list[str] | None:
    if shutil.which("docker") is not None:
        version = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if version.returncode == 0:
            return ["docker", "compose"]
    binary = shutil.which("docker-compose")
    return [binary] if binary is not None else None


def test_docker_compose_validates_the_compose_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose CLI here (`docker compose config` needs no engine)")
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env |= {name: "checked-here" for name in SECRETS}
    # First make sure this CLI reports errors through its exit code.
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  a:\n    image: x\n    no_such_key: 1\n")
    probe = [*cli, "-f", str(bad), "config", "-q"]
    if subprocess.run(probe, capture_output=True, env=env, check=False).returncode == 0:
        pytest.skip(f"{' '.join(cli)} does not report errors through its exit code")
    checked = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    # Secrets have no defaults: without them, compose refuses the file.
    unset = {k: v for k, v in env.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    refused = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=unset,
        check=False,
    )
    assert refused.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in refused.stderr


# --- the dashboards --------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    repeat: str | None

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}: {self.expr}"


def _dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every panel with the variable its row or itself repeats over."""
    row_repeat: str | None = None
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            row_repeat = panel.get("repeat")
            for inner in panel.get("panels", []):
                yield inner, inner.get("repeat") or row_repeat
        else:
            yield panel, panel.get("repeat") or row_repeat


def _queries() -> list[PanelQuery]:
    return [
        PanelQuery(dashboard["title"], panel["title"], target["refId"], target["expr"], repeat)
        for dashboard in map(_dashboard, DASHBOARDS)
        for panel, repeat in _panels(dashboard)
        for target in panel["targets"]
    ]


def test_the_dashboards_are_well_formed() -> None:
    titles = {_dashboard(path)["title"] for path in DASHBOARDS}
    assert {
        "ENoTime cluster overview",
        "ENoTime actors and supervision",
        "ENoTime transport",
        "ENoTime store and crypto",
        "ENoTime API and login",
    } <= titles
    uids = [_dashboard(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    for path in DASHBOARDS:
        dashboard = _dashboard(path)
        assert dashboard["schemaVersion"] >= 39, path.name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["DS_PROMETHEUS"]["type"] == "datasource"
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(set(ids)) == len(ids), path.name
        for panel, repeat in _panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            assert panel["targets"], panel["title"]
            assert repeat is None or repeat in variables
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                for name in _variables_in(target["expr"]):
                    assert name in variables or name in BUILTINS, (panel["title"], name)


KNOWN_METRICS = {
    *NODE_METRICS,
    *TRANSPORT_METRICS,
    *STORE_METRICS,
    *CRYPTO_METRICS,
    *API_METRICS,
    *LOGIN_METRICS,
    "up",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
}


def _metrics_in(expr: str) -> set[str]:
    """The metric names ``expr`` reads (``up``, ``enotime_*``, ``process_*``)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    words = set(re.findall(r"\b[a-z_:][a-z0-9_:]*\b", expr))
    return {w for w in words if w.startswith(("enotime_", "process_")) or w == "up"}


def _family(metric: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", metric)


def test_the_dashboards_query_only_metrics_that_exist() -> None:
    """No panel for a metric nobody exports."""
    for panel_query in _queries():
        for metric in _metrics_in(panel_query.expr.replace("${app_meter}", "NAME")):
            assert (
                metric in KNOWN_METRICS
                or _family(metric) in KNOWN_METRICS
                or re.fullmatch(r"enotime_app_NAME_(total|duration_seconds_bucket)", metric)
            ), f"{panel_query}: {metric}"


def test_every_metric_a_node_exposes_has_a_panel() -> None:
    """docs/metrics.md's tables, on the dashboards: a new metric needs a panel too."""
    shown = {_family(metric) for query in _queries() for metric in _metrics_in(query.expr)}
    assert not KNOWN_METRICS - shown


# Fallbacks that make an expression return data whatever the node exposes: a panel
# is evaluated without them, so that its real series must be there.
_CONSTANT_FALLBACK = re.compile(r"\s+or\s+(?:on\s*\(\s*\)\s*)?vector\(\s*[-+0-9.eE]+\s*\)")


def _without_constant_fallbacks(expr: str) -> str:
    return _CONSTANT_FALLBACK.sub("", expr)


def test_constant_fallbacks_are_left_out_of_the_evaluated_expressions() -> None:
    assert _without_constant_fallbacks("count(x == 0) or vector(0)") == "count(x == 0)"
    assert _without_constant_fallbacks("(sum(a) or on() vector(0)) / sum(b)") == "(sum(a)) / sum(b)"
    assert _without_constant_fallbacks("sum(a) or  vector(1.5)") == "sum(a)"
    kept = '(sum(a{s=~"5.."}) or 0 * sum(a)) / sum(a)'  # no data unless `a` has some
    assert _without_constant_fallbacks(kept) == kept


# --- a real Prometheus scrapes a real node ---------------------------------------------

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def _variables_in(expr: str) -> set[str]:
    return {a or b for a, b in _VARIABLE.findall(expr)}


def _substitute(expr: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], expr)


async def _api(prometheus: str, path: str) -> dict[str, Any]:
    """A JSON answer of Prometheus's HTTP API (urllib: long answers come chunked)."""

    def get() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{prometheus}{path}", timeout=5) as answer:
            loaded: dict[str, Any] = json.loads(answer.read())
            return loaded

    answer = await asyncio.to_thread(get)
    assert answer["status"] == "success", answer
    return answer


async def _query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector ``promql`` evaluates to now."""
    result: list[dict[str, Any]] = (await _api(prometheus, f"/api/v1/query?query={quote(promql)}"))[
        "data"
    ]["result"]
    return result


async def _label_values(prometheus: str, definition: str) -> list[str]:
    """Grafana's ``label_values(selector, label)`` through Prometheus's series API."""
    found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition.strip())
    assert found is not None, definition
    selector, label = found.groups()
    series = (await _api(prometheus, f"/api/v1/series?match[]={quote(selector)}&start=0"))["data"]
    return sorted({s[label] for s in series if label in s})


async def _resolve(prometheus: str, dashboard: dict[str, Any]) -> list[dict[str, str]]:
    """The variable values Grafana would offer: "All" (allValue) and the first value.

    Returns one assignment per choice; repeat variables keep their list of
    values in ``"*repeat*<name>"`` (joined by newlines) for the caller to expand.
    """
    base: dict[str, str] = dict(BUILTINS)
    first: dict[str, str] = dict(BUILTINS)
    for variable in dashboard["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            base[name] = first[name] = "prometheus"
            continue
        definition = _substitute(variable["query"], base)
        values = await _label_values(prometheus, definition)
        if variable.get("regex"):
            pattern = re.compile(variable["regex"].strip("/"))
            values = [
                (m.group(1) if m.groups() else m.group(0))
                for v in values
                if (m := pattern.search(v)) is not None
            ]
        if not values:
            return []
        base[f"*repeat*{name}"] = first[f"*repeat*{name}"] = "\n".join(values)
        base[name] = variable.get("allValue") or "|".join(map(re.escape, values))
        first[name] = re.escape(values[0]) if variable.get("multi") else values[0]
        first[name] = first[name].replace("\\", "\\\\")  # inside a PromQL string
    return [base, first]


def _expand(panel_query: PanelQuery, assignment: dict[str, str]) -> list[str]:
    if panel_query.repeat is None:
        return [_substitute(panel_query.expr, assignment)]
    return [
        _substitute(panel_query.expr, {**assignment, panel_query.repeat: value})
        for value in assignment[f"*repeat*{panel_query.repeat}"].split("\n")
    ]


@message("test.deploy.Work", version=1)
@dataclass(frozen=True)
class Work(Request[int]):
    n: int


@dataclass(frozen=True)
class Crash:
    pass


class MeteredCrypto(CryptoService):
    """The crypto actor with its handler latency."""

    metered = True


class MeteredStore(StoreService):
    metered = True


NOTE = DocumentType("note", public=frozenset({"n"}), indexed=frozenset({"owner"}))
"""The store actor's document type: a private indexed field, sealed through the crypto actor."""


class AMeteredLookup(Actor):
    """Metered and busy; named to sort first among the classes alive (``AccountsService``,
    ``FrontService``...): the actors dashboard's panels are checked with the first value
    of its ``actor_class`` variable too, and an unmetered class has no latency to show."""

    metered = True

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    @handler
    def work(self, msg: Work) -> int:
        with measure("deploy_lookup", registry=self.registry):
            return msg.n * 2

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("crash requested by the test")


class Fragile(Actor):
    """Crashed once while Prometheus scrapes, so the "in range" panels see a crash and a restart."""

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("crash requested by the test")


def _scrape_config(workdir: Path, node_name: str, metrics_port: int) -> Path:
    """The deploy configuration's ``enotime`` job and rules, fed by a file instead of Consul.

    The file carries the labels Consul discovery gives an ``enotime-node``
    instance (service address, metadata, datacenter) so the deploy job's own
    relabelling picks the scrape address and the instance name -- plus an
    instance without ``metrics_port``, which it must drop.
    """
    deploy = load_yaml(PROMETHEUS_CONFIG)
    [job] = [j for j in deploy["scrape_configs"] if j["job_name"] == "enotime"]
    del job["consul_sd_configs"]
    consul_like = [
        {
            "targets": ["127.0.0.1:0"],  # __address__ from Consul: service address and port
            "labels": {
                "__meta_consul_service": "enotime-node",
                "__meta_consul_service_address": "127.0.0.1",
                "__meta_consul_service_metadata_enotime_node": node_name,
                "__meta_consul_service_metadata_metrics_port": str(metrics_port),
                "__meta_consul_dc": "dc1",
            },
        },
        {
            "targets": ["127.0.0.2:0"],
            "labels": {
                "__meta_consul_service": "enotime-node",
                "__meta_consul_service_address": "127.0.0.2",
                "__meta_consul_service_metadata_enotime_node": "no-metrics",
                "__meta_consul_dc": "dc1",
            },
        },
    ]
    (workdir / "consul-like.json").write_text(json.dumps(consul_like))
    job["file_sd_configs"] = [{"files": [str(workdir / "consul-like.json")]}]
    config = {
        "global": {
            **deploy["global"],
            "scrape_interval": "200ms",
            "scrape_timeout": "150ms",
            "evaluation_interval": "500ms",
        },
        "rule_files": [str(RULES)],
        "scrape_configs": [job],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _has_data(result: list[dict[str, Any]], *, non_zero: bool = False) -> bool:
    """Non-empty, with at least one finite number (a quantile of no traffic is NaN), and
    with ``non_zero`` one that is not 0."""
    values = [float(s["value"][1]) for s in result if "value" in s]
    return any(math.isfinite(v) and (v != 0 or not non_zero) for v in values)


NON_ZERO = {
    ("ENoTime cluster overview", "Messages handled / s"),
    ("ENoTime cluster overview", "Crashes in range"),
    ("ENoTime cluster overview", "Restarts in range"),
    ("ENoTime cluster overview", "Dead letters in range"),
    ("ENoTime actors and supervision", "Handled / s by handler"),
    ("ENoTime transport", "Connected nodes"),
    ("ENoTime transport", "Published / s by kind"),
    ("ENoTime transport", "Consumed / s by queue"),
    ("ENoTime store and crypto", "Store operations / s"),
    ("ENoTime store and crypto", "Crypto operations / s"),
    ("ENoTime API and login", "Requests / s"),
    ("ENoTime API and login", "Refused tokens in range"),
    ("ENoTime API and login", "Logins in range"),
    ("ENoTime API and login", "Registrations in range"),
}
"""(dashboard, panel) whose counters the test's traffic moves while Prometheus scrapes: they
must show more than 0. Not the counters of events it never causes (redeliveries,
reconnects, 5xx...): those must show data, 0 included."""


@pytest.mark.services
async def test_every_dashboard_panel_returns_data_from_a_running_node(
    tmp_path: Path, require_service: Callable[[str], NoReturn]
) -> None:
    if shutil.which("prometheus") is None:
        require_service("prometheus not found (Debian package `prometheus`)")
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_* as the default registry has them
    outbox = Outbox(stream=None)
    tree = supervisor(
        "root",
        [
            metrics_child(0, registry=registry),
            child(AMeteredLookup, registry, name="lookup"),
            child(Fragile, name="fragile"),
            # The reference system: its own crypto ("crypto") and store ("store"), a mailer,
            # the login and accounts actors, notes and the front on a free port.
            demo_system(port=0, mailer=outbox, data=tmp_path / "demo"),
        ],
        name="root",
    )
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    for share in await engine.initialize(shares=1, threshold=1):
        await engine.submit_unseal_share(share)
    async with (
        await SQLiteStore.open(tmp_path / "store.sqlite") as store,
        _transport("deploy-test") as transport,
        Node("deploy-test", shutdown_timeout=5.0) as node,
        contextlib.AsyncExitStack() as stack,
    ):
        root = await node.start(tree)
        host, port = await server_address(node)
        assert host == "127.0.0.1"
        gateway = await node.connect(transport)
        await gateway.expose("deploy-lookup", "lookup")
        crypto = CryptoClient(await node.spawn(MeteredCrypto, engine, name="deploy-crypto"))
        records = StoreClient(await node.spawn(MeteredStore, store, crypto, [NOTE]))

        # Errors, once each, so that the error panels have series: a store refusal, a
        # crypto refusal, a remote call to an unknown actor, a send nobody routes.
        with pytest.raises(NotFound):
            await records.get("missing")
        with pytest.raises(CryptoError):
            await crypto.key_info("no-such-key")
        with pytest.raises(EnotimeError):  # RemoteError: UnknownActor
            await node.remote(node.name, "nobody").call(Work(0), timeout=5.0)
        node.service("nobody-serves-this").send(Work(0))  # Unroutable: a dead letter here

        # A crash, its restart and a dead letter (a message to the crashed actor).
        crashed = node.lookup("lookup")
        crashed.send(Crash())
        await crashed.wait_stopped(timeout=5)
        assert (await count_children(root)).restarts_total == 1
        crashed.send(Work(0))
        assert node.statistics().dead_letters_total >= 1

        stop_traffic = asyncio.Event()

        async def traffic() -> int:
            sent = 0
            remote, service = node.remote(node.name, "lookup"), node.service("deploy-lookup")
            while not stop_traffic.is_set():
                lookup = node.whereis("lookup")
                if lookup is not None and lookup.is_alive:
                    await lookup.call(Work(sent), timeout=5.0)
                    assert await remote.call(Work(sent), timeout=5.0) == 2 * sent
                    service.send(Work(sent))
                    doc = f"note-{sent % 50}"
                    with contextlib.suppress(NotFound):
                        old = await records.get(doc)
                        await records.delete(doc, old.rev or "")
                    await records.put(Record(doc, "note", {"n": sent, "owner": "deploy"}))
                    assert await records.find("note", owner="deploy")
                    sent += 1
                await asyncio.sleep(0.005)  # paces the traffic, not a wait -- noqa: sleep-ok
            return sent

        front = await node.lookup("front").call(Where())
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=front.url, timeout=10.0)
        )
        session = await _api_session(node, client, outbox)

        async def api_traffic() -> int:
            sent = 0
            notes = f"/accounts/{session.account}/notes"
            while not stop_traffic.is_set():
                # Under the front's per-route limits (600 a minute per address, 300 per subject).
                assert (await client.get("/.well-known/jwks.json")).status_code == 200
                assert (await client.get(notes, headers=session.bearer)).status_code == 200
                if sent % 4 == 0:
                    note = {"title": f"note {sent}", "body": "from the deploy test"}
                    created = await client.post(notes, json=note, headers=session.bearer)
                    assert created.status_code == 201, created.text
                sent += 1
                await asyncio.sleep(0.25)  # paces the traffic, not a wait -- noqa: sleep-ok
            return sent

        flowing = asyncio.create_task(traffic())
        api_flowing = asyncio.create_task(api_traffic())
        try:
            config = _scrape_config(tmp_path, node.name, port)
            async with running_prometheus(config, tmp_path) as prometheus:
                # Once Prometheus has the counters, a crash, a restart, a dead letter, a
                # login, a registration and a refused token, for the "in range" panels.
                await _wait_for_series(prometheus, 'enotime_login_logins_total{outcome="success"}')
                fragile = node.lookup("fragile")
                fragile.send(Crash())
                await fragile.wait_stopped(timeout=5)
                assert (await count_children(root)).restarts_total == 2
                fragile.send(Crash())  # to the dead actor: a dead letter
                await session.log_in_again(client)
                missing = await _wait_for_every_panel(prometheus)
                assert not missing, (
                    f"no data within {DEADLINE:g} s for:\n"
                    + "\n".join(missing)
                    + f"\ntargets: {targets(prometheus)}"
                )
                await _check_discovery_and_rules(prometheus, node.name, port)
        finally:
            stop_traffic.set()
            sent = await flowing
            api_sent = await api_flowing
        assert sent > 0
        assert api_sent > 0


PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class ApiSession:
    """A user of the reference system's API, signed up and logged in with MFA."""

    account: str
    access_token: str
    credentials: dict[str, str]
    recovery_codes: list[str]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    async def log_in_again(self, client: httpx.AsyncClient) -> None:
        """A login with a recovery code, a new registration and a refused token."""
        challenge = await _post(client, "/auth/login", self.credentials, 200)
        code = {"challenge": challenge["challenge"], "code": self.recovery_codes.pop()}
        await _post(client, "/auth/login/mfa", code, 200)
        await _post(client, "/auth/register", {**self.credentials, "email": "two@example.com"}, 202)
        assert (await client.get("/auth/me")).status_code == 401  # no token


async def _post(client: httpx.AsyncClient, path: str, body: Any, status: int, **kwargs: Any) -> Any:
    answer = await client.post(path, json=body, **kwargs)
    assert answer.status_code == status, f"{path}: {answer.status_code} {answer.text}"
    return answer.json() if answer.content else None


async def _mailed_token(node: Node, outbox: Outbox, address: str, path: str) -> str:
    """The token of the newest ``path`` link mailed to ``address``."""
    await node.lookup("login").call(Jwks(), timeout=10.0)  # its work after the reply is done
    await node.lookup("mailer").call(Pending(), timeout=10.0)  # and the mailer sent it
    for mail in reversed(outbox.sent):
        found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", mail.text)
        if mail.to == address and found:
            return found.group(1)
    raise AssertionError(f"no {path} link was mailed to {address}")


async def _api_session(node: Node, client: httpx.AsyncClient, outbox: Outbox) -> ApiSession:
    """The API and login panels' traffic: sign up, verify, log in (and fail), MFA, refused
    tokens, a refresh, password reset requests up to their rate limit."""
    email = "deploy@example.com"
    credentials = {"email": email, "password": PASSWORD}

    async def post(path: str, body: Any, status: int, **kwargs: Any) -> Any:
        return await _post(client, path, body, status, **kwargs)

    await post("/auth/register", credentials, 202)
    await post("/auth/register", credentials, 202)  # a duplicate: the owner is mailed
    token = await _mailed_token(node, outbox, email, "/verify-email")
    await post("/auth/verify-email", {"token": token}, 200)
    tokens = await post("/auth/login", credentials, 200)
    await post("/auth/login", {**credentials, "password": "not the password at all"}, 401)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/auth/me")).status_code == 401  # no token
    garbage = {"Authorization": "Bearer not-a-jwt"}
    assert (await client.get("/auth/me", headers=garbage)).status_code == 401
    assert (await client.get("/no/such/route")).status_code == 404
    await post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}, 200)
    enrolment = await post("/auth/mfa/enrol", None, 200, headers=bearer)
    secret = enrolment["secret"]
    codes = await post("/auth/mfa/confirm", {"code": pyotp.TOTP(secret).now()}, 200, headers=bearer)
    challenge = await post("/auth/login", credentials, 200)
    assert challenge["mfa_required"]
    code = {"challenge": challenge["challenge"], "code": codes["codes"][0]}
    tokens = await post("/auth/login/mfa", code, 200)
    # Reset requests: the strict per-address limit (5 a minute) answers the sixth with 429.
    for n in range(6):
        await post("/auth/forgot-password", {"email": email}, 429 if n == 5 else 202)
    return ApiSession(tokens["account"], tokens["access_token"], credentials, codes["codes"][1:])


@contextlib.asynccontextmanager
async def _transport(node_id: str) -> AsyncIterator[TransportBase]:
    """RabbitMQ when it answers (on an exchange of its own, deleted after), else in-process."""
    transport: TransportBase
    keyring = Keyring.generate("deploy-test")
    exchange = f"enotime-deploy-{uuid.uuid4().hex[:12]}"
    if _amqp_answers() is None:
        from enotime.transport import AmqpTransport

        transport = AmqpTransport(AMQP_URL, node_id, keyring=keyring, exchange=exchange)
    else:
        transport = LocalTransport(LocalBroker(keyring), node_id, exchange=exchange)
    await transport.open()
    try:
        yield transport
    finally:
        if not isinstance(transport, LocalTransport):
            from enotime.transport import AmqpTransport

            assert isinstance(transport, AmqpTransport)
            await transport.delete_topology()
        await transport.aclose()


async def _wait_for_every_panel(prometheus: str) -> list[str]:
    """Poll until every panel expression has data; the ones that never had it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    queries = _queries()
    assert len(queries) >= 20
    pending: dict[str, tuple[str, bool]] = {}  # expression -> (where it comes from, non-zero)
    resolved = False
    while loop.time() < deadline:
        if not resolved:
            assignments = [
                (dashboard["title"], assignment)
                for dashboard in map(_dashboard, DASHBOARDS)
                for assignment in await _resolve(prometheus, dashboard)
            ]
            titles = {title for title, _ in assignments}
            if titles == {_dashboard(path)["title"] for path in DASHBOARDS}:
                resolved = True
                for title, assignment in assignments:
                    for panel_query in _queries():
                        if panel_query.dashboard == title:
                            for expr in _expand(panel_query, assignment):
                                pending.update(_checks(panel_query, expr))
        for expr, (_, non_zero) in list(pending.items()):
            if _has_data(await _query(prometheus, expr), non_zero=non_zero):
                del pending[expr]
        if resolved and not pending:
            return []
        await asyncio.sleep(0.25)  # polls Prometheus's API -- noqa: sleep-ok
    if not resolved:
        return ["the dashboard variables (label_values) found no values"]
    return [
        f"{where}\n    evaluated as: {expr}" + (" (must be > 0)" if non_zero else "")
        for expr, (where, non_zero) in pending.items()
    ]


def _checks(panel_query: PanelQuery, expr: str) -> dict[str, tuple[str, bool]]:
    """What must return data for one expression of a panel: the expression without its
    constant fallbacks (non-zero where the traffic moves it), and every series it reads."""
    where = str(panel_query)
    non_zero = (panel_query.dashboard, panel_query.panel) in NON_ZERO
    checks = {_without_constant_fallbacks(expr): (where, non_zero)}
    for metric in _metrics_in(expr):
        checks.setdefault(f'group({metric}{{job="enotime"}})', (f"{where}: reads {metric}", False))
    return checks


async def _wait_for_series(prometheus: str, promql: str) -> None:
    """Poll until Prometheus has scraped ``promql``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await _query(prometheus, promql):
        assert loop.time() < deadline, f"{promql}: not scraped; targets: {targets(prometheus)}"
        await asyncio.sleep(0.1)  # polls Prometheus's API -- noqa: sleep-ok


def test_the_panels_that_must_show_traffic_exist() -> None:
    panels = {(query.dashboard, query.panel) for query in _queries()}
    assert not NON_ZERO - panels


async def _check_discovery_and_rules(prometheus: str, node_name: str, port: int) -> None:
    # The deploy job's relabelling: the node's metrics port, named after the node;
    # the instance without metrics_port dropped.
    answer = (await _api(prometheus, "/api/v1/targets?state=any"))["data"]
    [active] = answer["activeTargets"]
    assert active["labels"]["instance"] == node_name
    assert active["scrapeUrl"] == f"http://127.0.0.1:{port}/metrics"
    assert active["labels"]["consul_dc"] == "dc1"
    dropped = [t["discoveredLabels"]["__address__"] for t in answer["droppedTargets"]]
    assert dropped == ["127.0.0.2:0"]
    # Every rule evaluated without error; every recording rule recorded something.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        rules = await _api(prometheus, "/api/v1/rules")
        every = [rule for group in rules["data"]["groups"] for rule in group["rules"]]
        assert len(every) == RULE_COUNT
        bad = [(r["name"], r.get("lastError")) for r in every if r["health"] == "err"]
        assert not bad, bad
        recorded = [r["name"] for r in every if r["type"] == "recording"]
        empty = [name for name in recorded if not await _query(prometheus, name)]
        if all(r["health"] == "ok" for r in every) and not empty:
            break
        assert loop.time() < deadline, f"rules not evaluated: {every}; empty: {empty}"
        await asyncio.sleep(0.25)  # polls Prometheus's API -- noqa: sleep-ok
