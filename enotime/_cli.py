"""The ``enotime`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from enotime._connect import (
    ConnectFailed,
    ConnectOptions,
    UsageError,
    add_connect_arguments,
    child_options,
    connect_options,
    connected,
)
from enotime._inspect import InspectableNode, add_status_command
from enotime._logging import LOG_FORMATS, configure_logging
from enotime._scaffold import add_new_command
from enotime._supervisor import ChildSpec, Restart
from enotime.crypto._cli import add_crypto_commands
from enotime.errors import ConfigurationError, StartFailed

__all__ = ["main"]

log = logging.getLogger("enotime.cli")


def _load(target: str) -> Any:
    """Import ``module:attribute`` (the current directory is importable, as for uvicorn)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"enotime: expected MODULE:ATTRIBUTE, got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"enotime: cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise SystemExit(f"enotime: {module_name!r} has no attribute {attribute!r}") from None


def _run(args: argparse.Namespace) -> int:
    configure_logging(
        args.log_level, verbose=args.verbose, json=args.log_format == "json", node=args.name
    )
    try:
        connect = connect_options(args)
    except UsageError as exc:
        print(f"enotime run: error: {exc}", file=sys.stderr)
        return 2
    if args.procs is not None:
        return _run_procs(args, connect)
    root = _load(args.tree)
    if callable(root) and not isinstance(root, type | ChildSpec):
        try:
            root = root()  # a function that builds the tree
        except ConfigurationError as exc:
            print(f"enotime run: {args.tree}: {exc}", file=sys.stderr)
            return 2
    # An inspectable node serves `enotime status` on its control socket while it runs.
    node = InspectableNode(args.name, shutdown_timeout=args.shutdown_timeout)
    if args.metrics_port is None and connect is None:
        return node.run(root, use_uvloop=args.uvloop, freeze_gc=args.gc_freeze)
    if args.metrics_port is not None:
        try:
            from enotime.metrics import server_address, start_metrics
        except ImportError as exc:
            raise SystemExit(f"enotime: --metrics-port: {exc}") from None

    async def serve() -> int:
        metrics_port: int | None = None
        if args.metrics_port is not None:
            try:
                await start_metrics(node, args.metrics_port, host=args.metrics_host)
            except StartFailed as failure:
                log.error("node %s: /metrics could not start: %s", node.name, failure)
                await node.aclose()
                return 1
            _, metrics_port = await server_address(node)  # the port 0 picked
        if connect is None:
            return await node.serve(root, freeze_gc=args.gc_freeze)
        try:
            # Connected before the tree starts, closed after the node stops.
            async with connected(node, connect, metrics_port=metrics_port):
                return await node.serve(root, freeze_gc=args.gc_freeze)
        except ConnectFailed as failure:
            log.error("node %s: %s", node.name, failure)
            return 1

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            raise SystemExit('enotime: pip install "enotime[speed]" for uvloop') from None
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(serve())


def _run_procs(args: argparse.Namespace, connect: ConnectOptions | None) -> int:
    """``--procs N``: N nodes running the tree, each in its own supervised OS process."""
    try:
        from enotime.process import ProcessSupervisor, node_process
    except ImportError as exc:
        raise SystemExit(f"enotime: --procs: {exc}") from None
    _load(args.tree)  # fail here, once, rather than in N restarting children
    metrics_ports = _metrics_ports(args) if args.metrics_port is not None else []
    connect_argv, connect_env = child_options(connect) if connect is not None else ([], {})
    specs = []
    for i in range(1, args.procs + 1):
        options = ["--log-level", args.log_level, "--shutdown-timeout", str(args.shutdown_timeout)]
        options += ["--uvloop"] * args.uvloop + ["--verbose"] * args.verbose
        options += [] if args.gc_freeze else ["--no-gc-freeze"]
        options += ["--log-format", args.log_format]
        if metrics_ports:
            port = metrics_ports[i - 1]
            options += ["--metrics-port", str(port), "--metrics-host", args.metrics_host]
        options += connect_argv
        specs.append(
            node_process(
                args.tree,
                name=f"{args.name}-{i}",
                restart=Restart(args.restart),
                shutdown=args.shutdown_timeout + 5.0,
                options=options,
                env=connect_env,
            )
        )
    supervisor = ProcessSupervisor(
        specs, max_restarts=args.max_restarts, max_seconds=args.max_seconds
    )
    return supervisor.run()


def _metrics_ports(args: argparse.Namespace) -> list[int]:
    """``--procs N --metrics-port P``: one port per node process, kept across its restarts.

    Every process is its own node (``NAME-i``, its ``enotime_node_info{node=}``)
    with its own registry, scraped on its own port: nothing is served twice,
    nothing is left out. P > 0 gives node i the port P + i - 1; P = 0 picks N
    distinct free ports now, so a restarted node comes back on the port its
    scrape configuration knows rather than on a new random one.
    """
    first: int = args.metrics_port
    if first:
        if not 0 < first <= 65536 - args.procs:
            raise SystemExit(f"enotime: --metrics-port {first}: no room for {args.procs} ports")
        ports = list(range(first, first + args.procs))
    else:
        from enotime.process import free_ports

        ports = free_ports(args.procs, args.metrics_host)
    for i, port in enumerate(ports, 1):
        log.info("node %s-%d: /metrics on %s:%d", args.name, i, args.metrics_host, port)
    return ports


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enotime", description="Supervised actors for Python backends."
    )
    parser.add_argument("--version", action="version", version="enotime 0.1.0")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a supervision tree as this process's node",
        description="Start the tree MODULE:ATTRIBUTE (a ChildSpec, a Supervisor class, or "
        "a function returning one) and run until SIGTERM/SIGINT. Exits 1 if the root "
        "supervisor gives up.",
    )
    run.add_argument("tree", metavar="MODULE:ATTRIBUTE")
    run.add_argument("--name", default="enotime", help="node name (default: %(default)s)")
    run.add_argument("--uvloop", action="store_true", help="use uvloop (enotime[speed])")
    run.add_argument("--log-level", default="INFO", help="default: %(default)s")
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="human",
        help="human: one readable line per event (default); json: one JSON object per "
        "line with ts, level, logger, message, node, actor, request_id, exception",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    run.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="do not gc.freeze() what start-up made once the tree runs (the default keeps "
        "the garbage collector's full passes short; see Node.serve)",
    )
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        help="seconds the whole tree gets to stop (default: %(default)s)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="N",
        help="serve Prometheus metrics on http://HOST:N/metrics (enotime[metrics]; "
        "0 picks a free port)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address the metrics endpoint binds to (default: %(default)s)",
    )
    run.add_argument(
        "--procs",
        type=_positive,
        default=None,
        metavar="N",
        help="run N nodes NAME-1..NAME-N, each in its own OS process, supervised by OTP "
        "rules (enotime[procs]); node i serves metrics on --metrics-port P+i-1 (P=0: N free "
        "ports picked at start, kept across restarts)",
    )
    run.add_argument(
        "--max-restarts",
        type=int,
        default=3,
        help="--procs: restarts allowed within --max-seconds before giving up "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--max-seconds",
        type=float,
        default=5.0,
        help="--procs: the restart intensity window (default: %(default)s)",
    )
    run.add_argument(
        "--restart",
        choices=[r.value for r in Restart],
        default=Restart.TRANSIENT.value,
        help="--procs: which exits restart a node (default: %(default)s: all but status 0)",
    )
    add_connect_arguments(run)
    run.set_defaults(func=_run)
    add_crypto_commands(commands)
    add_status_command(commands)
    add_new_command(commands)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``enotime`` console script."""
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
