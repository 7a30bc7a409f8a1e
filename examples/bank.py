"""A worked example: define actors, build a supervision tree, watch a restart.

Run it with ``python examples/bank.py``. It is the example walked through in
``docs/kernel.md``, and ``tests/system/test_examples.py`` runs it.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

from enotime import (
    Actor,
    Node,
    Strategy,
    child,
    configure_logging,
    handler,
    supervisor,
    which_children,
)
from enotime.errors import Refused
from enotime.messages import Down, Request

# 1. Messages are immutable records. Request[R] types the reply of a call.


@dataclass(frozen=True)
class Deposit(Request[int]):
    amount: int


@dataclass(frozen=True)
class Withdraw(Request[int]):
    amount: int


@dataclass(frozen=True)
class Balance(Request[int]):
    pass


@dataclass(frozen=True)
class Corrupt:
    """Something the account cannot survive: it crashes, and is restarted."""


class InsufficientFunds(Refused):
    """A refusal: the caller gets it raised, the account keeps running."""


# 2. Actors subclass Actor and declare one handler per message type.


class Account(Actor):
    def __init__(self, opening_balance: int = 0) -> None:
        self.balance = opening_balance

    async def on_start(self) -> None:
        print(f"account {self.ref.name} opened with {self.balance}")

    @handler
    def deposit(self, msg: Deposit) -> int:
        self.balance += msg.amount
        return self.balance

    @handler
    def withdraw(self, msg: Withdraw) -> int:
        if msg.amount > self.balance:
            raise InsufficientFunds(f"balance {self.balance} < {msg.amount}")
        self.balance -= msg.amount
        return self.balance

    @handler
    def balance_(self, msg: Balance) -> int:
        return self.balance

    @handler
    def corrupt(self, msg: Corrupt) -> None:
        raise RuntimeError("ledger corrupted")


class Auditor(Actor):
    """Monitors the account and reports each time it goes down."""

    def __init__(self, watched: str) -> None:
        self.watched = watched

    async def on_start(self) -> None:
        account = self.node.lookup(self.watched)
        self.monitor(account)
        print(f"auditor: watching {account}")

    @handler
    def down(self, msg: Down) -> None:
        print(f"auditor: {self.watched} went down ({msg.reason})")


# 3. A tree: the account first, then the auditor that depends on it.
#    rest_for_one: if the account restarts, the auditor restarts after it and
#    monitors the new incarnation.

tree = supervisor(
    "bank",
    [
        child(Account, 100, name="alice"),
        child(Auditor, "alice", name="auditor"),
    ],
    strategy=Strategy.REST_FOR_ONE,
    max_restarts=3,
    max_seconds=5,
    name="bank",
)


async def main() -> None:
    configure_logging("WARNING", stream=sys.stdout)
    async with Node("example") as node:
        bank = await node.start(tree)
        alice = node.lookup("alice")

        print("balance after deposit:", await alice.call(Deposit(50)))
        try:
            await alice.call(Withdraw(500))
        except InsufficientFunds as refusal:
            print("refused:", refusal)

        # 4. Crash it and watch the supervisor restart it, with a fresh state.
        alice.send(Corrupt())
        await alice.wait_stopped(timeout=1)
        await which_children(bank)  # the supervisor has handled the crash by now
        alice = node.lookup("alice")  # the name points at the new incarnation
        print("balance after restart:", await alice.call(Balance()))
        for info in await which_children(bank):
            print(f"child {info.id}: restarted {info.restarts} time(s)")


if __name__ == "__main__":
    asyncio.run(main())
