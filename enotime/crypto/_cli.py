"""``enotime crypto ...``: init, unseal, seal and status of an embedded keyring.

The CLI is a separate process from the node that uses the keys. Unseal
progress must stay in that node's memory (a share written to disk is a share
given away), so ``unseal``, ``seal`` and ``status`` talk to the node through its
control socket (``<keyring>/control.sock``, see :mod:`enotime.crypto._control`).
With no node running there is nothing to unseal: ``unseal --verify`` then
checks, in one interactive session, that a threshold of shares opens the
keyring, and ``status`` reads the keyring file.

Exit codes, as ``vault status``: 0 success/unsealed, 1 error, 2 sealed (status)
or no running node (unseal).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from enotime.crypto._control import CONTROL_SOCKET, ControlClient
from enotime.crypto._embedded import EmbeddedCryptoEngine
from enotime.crypto._errors import CryptoError
from enotime.crypto._port import SealStatus

__all__ = ["DEFAULT_KEYRING", "add_crypto_commands", "main"]

DEFAULT_KEYRING = ".enotime/keyring"

_SHARE_WARNING = """\
WARNING: these {n} unseal shares are shown once and stored nowhere.
Give each one to a different person now; any {t} of them unseal the keyring,
fewer reveal nothing. Losing more than {lost} of them loses every key for good.
"""


def _socket(args: argparse.Namespace) -> Path:
    return Path(args.socket) if args.socket else Path(args.keyring) / CONTROL_SOCKET


def _node(args: argparse.Namespace) -> ControlClient | None:
    client = ControlClient(_socket(args))
    return client if client.is_live() else None


def _read_share(prompt: str, stdin: TextIO) -> str:
    """A share from the terminal without echo (never argv: it would land in shell history)."""
    if stdin.isatty():
        return getpass.getpass(prompt).strip()
    print(prompt, end="", file=sys.stderr, flush=True)
    return stdin.readline().strip()


def _print_status(status: SealStatus, keyring: str, node: str, out: TextIO) -> None:
    rows = [
        ("Keyring", keyring),
        ("Node", node),
        ("Initialized", str(status.initialized).lower()),
        ("Sealed", str(status.sealed).lower()),
        ("Total Shares", str(status.shares)),
        ("Threshold", str(status.threshold)),
        ("Unseal Progress", f"{status.progress}/{status.threshold}"),
    ]
    for label, value in rows:
        print(f"{label:<16}{value}", file=out)


def cmd_init(args: argparse.Namespace) -> int:
    """``enotime crypto init --shares N --threshold T``: create the keyring, print shares once."""
    node = _node(args)
    if node is not None:
        shares: list[str] = node.request(op="init", shares=args.shares, threshold=args.threshold)[
            "shares"
        ]
    else:
        engine = EmbeddedCryptoEngine(args.keyring)
        shares = asyncio.run(engine.initialize(args.shares, args.threshold))
    lost = args.shares - args.threshold
    print(_SHARE_WARNING.format(n=args.shares, t=args.threshold, lost=lost), file=sys.stderr)
    for number, share in enumerate(shares, start=1):
        print(f"Unseal share {number}: {share}")
    print(f"\nKeyring initialised in {args.keyring} (sealed).", file=sys.stderr)
    return 0


def cmd_unseal(args: argparse.Namespace) -> int:
    """``enotime crypto unseal``: submit one share (read without echo) to the running node."""
    if args.verify:
        return _verify_offline(args)
    node = _node(args)
    if node is None:
        print(
            f"error: no running node listens on {_socket(args)}; unseal progress lives in the "
            "node's memory, so start the node first. To check shares offline use "
            "'enotime crypto unseal --verify'.",
            file=sys.stderr,
        )
        return 2
    share = _read_share("Unseal share (will be hidden): ", sys.stdin)
    progress = node.request(op="unseal", share=share)["progress"]
    if progress["sealed"]:
        print(f"Unseal progress {progress['progress']}/{progress['threshold']}: still sealed.")
    else:
        print("Unsealed.")
    return 0


def _verify_offline(args: argparse.Namespace) -> int:
    """Check, in one session, that a threshold of shares opens the keyring. Nothing stays open."""

    async def run() -> int:
        engine = EmbeddedCryptoEngine(args.keyring)
        status = await engine.status()
        if not status.initialized:
            print(f"error: no keyring in {args.keyring}", file=sys.stderr)
            return 1
        for number in range(1, status.threshold + 1):
            prompt = f"Unseal share {number} of {status.threshold} (will be hidden): "
            progress = await engine.submit_unseal_share(_read_share(prompt, sys.stdin))
            if not progress.sealed:
                await engine.seal()
                print(
                    f"These {status.threshold} shares open the keyring. No node is unsealed by "
                    "this check: the keyring stays sealed at rest."
                )
                return 0
        return 1  # pragma: no cover - the last share either unseals or raises

    return asyncio.run(run())


def cmd_seal(args: argparse.Namespace) -> int:
    """``enotime crypto seal``: break glass on the running node."""
    node = _node(args)
    if node is None:
        status = asyncio.run(EmbeddedCryptoEngine(args.keyring).status())
        if not status.initialized:
            print(f"error: no keyring in {args.keyring}", file=sys.stderr)
            return 1
        print(f"No running node listens on {_socket(args)}: nothing is unsealed.")
        return 0
    node.request(op="seal")
    print("Sealed.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``enotime crypto status``: exit 0 if unsealed, 2 if sealed."""
    node = _node(args)
    if node is not None:
        status = SealStatus(**node.request(op="status")["status"])
        where = f"running (control socket {_socket(args)})"
    else:
        status = asyncio.run(EmbeddedCryptoEngine(args.keyring).status())
        where = "not running (status read from the keyring file)"
    _print_status(status, str(args.keyring), where, sys.stdout)
    return 2 if status.sealed else 0


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CryptoError as exc:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, EOFError):
            print("\naborted", file=sys.stderr)
            return 1

    run.__doc__ = command.__doc__
    return run


def add_crypto_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``crypto init|unseal|seal|status`` on the main CLI's sub-parsers.

    Each leaf parser sets ``func``: call ``args.func(args)`` and exit with the
    integer it returns.
    """
    crypto = subparsers.add_parser("crypto", help="the embedded crypto engine's keyring")
    commands = crypto.add_subparsers(dest="crypto_command", required=True, metavar="COMMAND")

    def leaf(name: str, help: str, func: Callable[[argparse.Namespace], int]) -> Any:
        parser = commands.add_parser(name, help=help, description=help)
        parser.add_argument(
            "--keyring",
            default=DEFAULT_KEYRING,
            metavar="DIR",
            help=f"keyring directory (default: {DEFAULT_KEYRING})",
        )
        parser.add_argument(
            "--socket",
            default=None,
            metavar="PATH",
            help="node control socket (default: DIR/control.sock)",
        )
        parser.set_defaults(func=_guarded(func))
        return parser

    init = leaf("init", "create the keyring and print its unseal shares once", cmd_init)
    init.add_argument("--shares", type=int, default=5, help="shares to make (default 5)")
    init.add_argument("--threshold", type=int, default=3, help="shares needed (default 3)")
    unseal = leaf("unseal", "submit one unseal share to the running node", cmd_unseal)
    unseal.add_argument(
        "--verify",
        action="store_true",
        help="no node: check that a threshold of shares opens the keyring, in one session",
    )
    leaf("seal", "break glass: seal the running node now", cmd_seal)
    leaf("status", "show seal status (exit 0 unsealed, 2 sealed)", cmd_status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``crypto ...`` alone (``python -m enotime.crypto._cli crypto status``)."""
    parser = argparse.ArgumentParser(prog="enotime")
    add_crypto_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
