"""The encrypted store and the crypto actor beside their plain peers, in the same run.

Run ``python benchmarks/data.py [--quick] [--json]`` (issue 4, ``../shared/BENCHMARKS.md``).

Store put/get ops/s on SQLite and on pouchdb-server (the CouchDB HTTP API),
three contenders per backend, each on a fresh SQLite file or a fresh CouchDB
database, with the same documents and the same concurrency:

- **encrypted**: ``StoreClient`` -> ``StoreService`` -> ``CryptoService``
  (embedded engine): private fields sealed by transit encryption, the private
  indexed ``email`` stored as a blind index (HMAC);
- **plain** (the peer): the same actor hop without sealing -- a minimal store
  actor written here that forwards the same records to the same adapter, the
  body being the plain fields, with the same index fields declared. The ratio
  encrypted / plain is the cost of encryption and blind indexes alone;
- **direct** (informational): the adapter called without any actor, so the
  cost of the actor hop shows too.

Each is measured one operation at a time (with p50/p99 latency) and with
``CONCURRENCY`` operations in flight. Within a repetition the contenders run
one after the other, in an order that rotates between repetitions.

Crypto: encrypt+decrypt pairs of a 1 KiB payload through the crypto actor
(``CryptoClient``), beside raw ``cryptography`` AES-GCM on the same payload,
and the embedded engine called directly (informational).

pouchdb-server is used where it answers (``COUCHDB_URL``, default
``http://127.0.0.1:5984``); if nothing answers and it is installed under
``.enotime/``, it is started with ``scripts/services/pouchdb start`` and
stopped at the end, as the tests do; otherwise its figures are missing, with
the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from _common import (
    MARKER_ENV,
    Report,
    Row,
    median,
    paired_ratio,
    parse_args,
    percentile,
    reap_marked,
    run_marker,
    stdout_to_stderr,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enotime import Actor, ActorRef, Node, handler
from enotime.abc import Store
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.messages import Request
from enotime.store import (
    Document,
    DocumentType,
    JsonValue,
    Record,
    SQLiteStore,
    StoreClient,
    StoreError,
    StoreService,
    StoreUnavailable,
)

ROOT: Final = Path(__file__).resolve().parents[1]
POUCHDB_SCRIPT: Final = ROOT / "scripts" / "services" / "pouchdb"
POUCHDB_BIN: Final = (
    ROOT / ".enotime" / "services" / "pouchdb" / "node_modules" / ".bin" / "pouchdb-server"
)

CONCURRENCY: Final = 16
"""Operations in flight in the concurrent variant."""
WARMUP_STORE: Final = 20
"""Untimed puts and gets before each contender's timed loops (connections, caches)."""
WARMUP_CRYPTO: Final = 500
PAYLOAD_BYTES: Final = 1024
CALL_TIMEOUT: Final = 10.0
"""Seconds any one store or crypto operation may take."""
CRYPTO_KEY: Final = "bench"

USERS: Final = DocumentType(
    "user", public=frozenset({"plan"}), indexed=frozenset({"email", "plan"})
)
"""Private ``email`` (indexed: a blind index), private ``name`` and ``note``, public ``plan``."""
PLANS: Final = ("free", "pro", "team")

BACKENDS: Final = ("sqlite", "couchdb")
CONTENDERS: Final = ("encrypted", "plain", "direct")
OPS: Final = ("put", "get")
MODES: Final = ("seq", f"c{CONCURRENCY}")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each measure does; every timed loop also stops after ``time_cap`` seconds."""

    repetitions: int
    store_ops: int
    """Operations per timed store loop (puts, then as many gets)."""
    crypto_ops: int
    """encrypt+decrypt pairs per timed crypto loop."""
    time_cap: float


QUICK: Final = Plan(3, 150, 5_000, 0.5)
FULL: Final = Plan(5, 1_000, 30_000, 2.5)


# -- the documents: the same for every contender ------------------------------------------


def fields_of(n: int) -> dict[str, JsonValue]:
    """The fields of user ``n``: about 300 bytes, as a small profile would be."""
    return {
        "email": f"user.{n:06d}@example.com",
        "name": f"User Number {n:06d}",
        "note": f"note {n}: " + "prefers e-mail over phone; renews each spring. " * 5,
        "plan": PLANS[n % len(PLANS)],
    }


def records(first: int, count: int, prefix: str = "u") -> list[Record]:
    return [
        Record(f"{prefix}{n:07d}", USERS.name, fields_of(n)) for n in range(first, first + count)
    ]


# -- the plain peer: the same actor hop, no sealing -----------------------------------------


@dataclass(frozen=True, slots=True)
class PlainPut(Request[str]):
    record: Record
    expected_rev: str | None


@dataclass(frozen=True, slots=True)
class PlainGet(Request[Record]):
    id: str


def plain_document(record: Record) -> Document:
    return Document(record.id, record.type, dict(record.fields))


def plain_record(document: Document) -> Record:
    return Record(document.id, document.type, dict(document.body), document.rev)


class PlainStoreService(Actor):
    """What ``StoreService`` does minus encryption: the record's fields are the stored body."""

    refusals = (StoreError,)

    def __init__(self, store: Store, types: Iterable[DocumentType]) -> None:
        self.store = store
        self.types = {t.name: t for t in types}

    async def on_start(self) -> None:
        for doc_type in self.types.values():
            await self.store.declare_index(doc_type.name, doc_type.indexed)

    def _checked(self, record: Record) -> Record:
        if record.type not in self.types:
            raise StoreError(f"document type {record.type!r} is not declared to this store")
        return record

    @handler
    async def put(self, msg: PlainPut) -> str:
        return await self.store.put(plain_document(self._checked(msg.record)), msg.expected_rev)

    @handler
    async def get(self, msg: PlainGet) -> Record:
        return plain_record(await self.store.get(msg.id))


class Records(Protocol):
    """What the workload needs of a contender: ``StoreClient``'s put and get."""

    async def put(self, record: Record, expected_rev: str | None = None) -> str: ...

    async def get(self, doc_id: str) -> Record: ...


class PlainClient:
    """``StoreClient``'s put and get, answered by :class:`PlainStoreService`."""

    def __init__(
        self, service: ActorRef[PlainStoreService], *, timeout: float = CALL_TIMEOUT
    ) -> None:
        self.service = service
        self.timeout = timeout

    async def put(self, record: Record, expected_rev: str | None = None) -> str:
        return await self.service.call(PlainPut(record, expected_rev), timeout=self.timeout)

    async def get(self, doc_id: str) -> Record:
        return await self.service.call(PlainGet(doc_id), timeout=self.timeout)


class DirectRecords:
    """The adapter itself, no actor: the same translation as the plain actor, in place.

    No extra timeout wrapper (it would cost a task per operation): the adapters'
    own timeouts bound every call (SQLite's busy timeout, CouchDB's request timeout).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def put(self, record: Record, expected_rev: str | None = None) -> str:
        return await self.store.put(plain_document(record), expected_rev)

    async def get(self, doc_id: str) -> Record:
        return plain_record(await self.store.get(doc_id))


# -- one timed sample -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One contender's loop in one repetition: a rate, latency percentiles when one at a time."""

    per_s: float
    done: int
    p50_us: float | None = None
    p99_us: float | None = None


class Missing(Exception):
    """A contender could not be measured; the message says why."""


async def sequential(
    operation: Callable[[int], Awaitable[object]], count: int, cap: float
) -> Sample:
    """``operation(0)``, ``operation(1)``... one at a time, up to ``count`` or ``cap`` seconds."""
    gc.collect()
    clock = time.perf_counter_ns
    latencies: list[int] = []
    deadline = clock() + int(cap * 1e9)
    start = previous = clock()
    for i in range(count):
        await operation(i)
        now = clock()
        latencies.append(now - previous)
        previous = now
        if now > deadline:
            break
    ordered = sorted(latencies)
    return Sample(
        per_s=len(ordered) * 1e9 / (previous - start),
        done=len(ordered),
        p50_us=percentile(ordered, 0.50) / 1e3,
        p99_us=percentile(ordered, 0.99) / 1e3,
    )


async def concurrent(
    operation: Callable[[int], Awaitable[object]], count: int, cap: float, in_flight: int
) -> Sample:
    """``count`` operations, ``in_flight`` at a time; none is started after ``cap`` seconds."""
    gc.collect()
    clock = time.perf_counter_ns
    deadline = clock() + int(cap * 1e9)
    indexes = iter(range(count))
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in indexes:  # shared: each index is taken by exactly one worker
            await operation(i)
            done += 1
            if clock() > deadline:
                return

    start = clock()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Sample(per_s=done * 1e9 / (clock() - start), done=done)


# -- the store: one contender on one fresh database -----------------------------------------


@dataclass(frozen=True, slots=True)
class Couch:
    """Where the CouchDB API answers, or why it does not; and whether we started it."""

    url: str | None
    reason: str = ""
    started: bool = False


def _answers(url: str) -> bool:
    request = urllib.request.Request(url + "/", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return "version" in json.load(response)
    except (OSError, ValueError):
        return False


def couch_up(marker: str) -> Couch:
    """The CouchDB-compatible server for this run, started the way the tests start it."""
    url = os.environ.get("COUCHDB_URL", "http://127.0.0.1:5984").rstrip("/")
    if _answers(url):
        return Couch(url)
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname != "127.0.0.1" or not POUCHDB_BIN.exists():
        return Couch(
            None,
            f"no CouchDB API at {url} (run scripts/services/pouchdb start, or set COUCHDB_URL)",
        )
    env = {**os.environ, "POUCHDB_PORT": str(parsed.port or 5984), MARKER_ENV: marker}
    try:
        started = subprocess.run(
            [str(POUCHDB_SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=45
        )
    except subprocess.TimeoutExpired:
        couch_down(Couch(url, started=True), marker)
        return Couch(None, f"pouchdb-server did not start at {url} within 45 s")
    if started.returncode != 0 or not _answers(url):
        couch_down(Couch(url, started=True), marker)
        return Couch(None, f"pouchdb-server did not start at {url}: {started.stderr.strip()}")
    return Couch(url, started=True)


def couch_down(couch: Couch, marker: str) -> list[int]:
    """Stop pouchdb-server if this run started it; returns PIDs that had to be killed."""
    if not couch.started or couch.url is None:
        return []
    port = urllib.parse.urlsplit(couch.url).port or 5984
    env = {**os.environ, "POUCHDB_PORT": str(port)}
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            [str(POUCHDB_SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=30
        )
    return reap_marked(marker)


def _delete_database(url: str) -> None:
    request = urllib.request.Request(url, method="DELETE", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise


def _remove_files(directory: Path, pattern: str) -> None:
    for leftover in directory.glob(pattern):
        leftover.unlink()


@contextlib.asynccontextmanager
async def fresh_store(backend: str, workdir: Path, couch: Couch) -> AsyncIterator[Store]:
    """A fresh, empty adapter: a new SQLite file, or a new CouchDB database; removed after."""
    name = f"enotime-bench-{uuid.uuid4().hex}"
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite3"
        try:
            async with await SQLiteStore.open(path) as sqlite_store:
                yield sqlite_store
        finally:
            await asyncio.to_thread(_remove_files, workdir, f"{name}.sqlite3*")
        return
    if couch.url is None:
        raise Missing(couch.reason)
    from enotime.store import CouchDBStore

    try:
        couch_store = await CouchDBStore.open(
            couch.url, name, request_timeout=CALL_TIMEOUT, longpoll_timeout=CALL_TIMEOUT / 2
        )
    except StoreUnavailable as exc:
        raise Missing(f"pouchdb-server at {couch.url}: {exc}") from None
    try:
        yield couch_store
    finally:
        await couch_store.aclose()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(_delete_database, f"{couch.url}/{name}")


@contextlib.asynccontextmanager
async def contender(
    kind: str, store: Store, engine: EmbeddedCryptoEngine
) -> AsyncIterator[Records]:
    """``kind``'s put/get over ``store``: through the encrypted or plain actor, or direct."""
    if kind == "direct":
        await store.declare_index(USERS.name, USERS.indexed)
        yield DirectRecords(store)
        return
    async with Node("bench-data") as node:
        if kind == "encrypted":
            crypto = CryptoClient(await node.spawn(CryptoService, engine), timeout=CALL_TIMEOUT)
            service = await node.spawn(StoreService, store, crypto, [USERS])
            yield StoreClient(service, timeout=CALL_TIMEOUT)
        else:
            yield PlainClient(await node.spawn(PlainStoreService, store, [USERS]))


async def measure_store(
    backend: str, kind: str, plan: Plan, workdir: Path, couch: Couch, engine: EmbeddedCryptoEngine
) -> dict[str, Sample]:
    """Puts then gets, one at a time then ``CONCURRENCY`` at a time, on a fresh database.

    Keys: ``put_seq``, ``put_c16``, ``get_seq``, ``get_c16``. Every contender puts
    the same documents and gets the same ids in the same order.
    """
    seq, par = MODES
    try:
        async with (
            fresh_store(backend, workdir, couch) as store,
            contender(kind, store, engine) as client,
        ):
            for record in records(0, WARMUP_STORE, prefix="w"):
                await client.put(record)
                await client.get(record.id)
            first = records(0, plan.store_ops)
            second = records(plan.store_ops, plan.store_ops)
            samples = {
                f"put_{seq}": await sequential(
                    lambda i: client.put(first[i]), len(first), plan.time_cap
                ),
                f"put_{par}": await concurrent(
                    lambda i: client.put(second[i]), len(second), plan.time_cap, CONCURRENCY
                ),
            }
            stored = [r.id for r in first[: samples[f"put_{seq}"].done]]
            stored += [r.id for r in second[: samples[f"put_{par}"].done]]
            random.Random(len(stored)).shuffle(stored)  # the same order for every contender
            reads = stored[: plan.store_ops]
            samples[f"get_{seq}"] = await sequential(
                lambda i: client.get(reads[i]), len(reads), plan.time_cap
            )
            samples[f"get_{par}"] = await concurrent(
                lambda i: client.get(reads[i]), len(reads), plan.time_cap, CONCURRENCY
            )
            check = await client.get(reads[0])
            if check.fields != fields_of(int(reads[0][1:])):
                raise AssertionError(f"{kind} on {backend} read back {check.fields!r}")
            return samples
    except (StoreUnavailable, OSError, TimeoutError) as exc:
        raise Missing(f"{backend} failed during the {kind} run: {exc!r}") from None


# -- crypto: encrypt+decrypt of 1 KiB ---------------------------------------------------------


async def crypto_pairs(
    encrypt: Callable[[bytes], Awaitable[str]],
    decrypt: Callable[[str], Awaitable[bytes]],
    payload: bytes,
    count: int,
    cap: float,
) -> Sample:
    """encrypt then decrypt ``payload``, ``count`` times or for ``cap`` seconds."""
    for _ in range(WARMUP_CRYPTO):
        await decrypt(await encrypt(payload))

    async def pair(_: int) -> None:
        if await decrypt(await encrypt(payload)) != payload:
            raise AssertionError("the payload did not survive encrypt+decrypt")

    return await sequential(pair, count, cap)


def aesgcm_pairs(payload: bytes, count: int, cap: float) -> Sample:
    """The peer: raw ``cryptography`` AES-256-GCM, a random 96-bit nonce per encryption."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    token = secrets.token_bytes
    for _ in range(WARMUP_CRYPTO):
        nonce = token(12)
        aead.decrypt(nonce, aead.encrypt(nonce, payload, None), None)
    gc.collect()
    clock = time.perf_counter_ns
    deadline = clock() + int(cap * 1e9)
    done = 0
    start = clock()
    while done < count:
        for _ in range(min(256, count - done)):  # the clock is read every 256 pairs only
            nonce = token(12)
            if aead.decrypt(nonce, aead.encrypt(nonce, payload, None), None) != payload:
                raise AssertionError("the payload did not survive encrypt+decrypt")
        done += min(256, count - done)
        if clock() > deadline:
            break
    return Sample(per_s=done * 1e9 / (clock() - start), done=done)


async def measure_crypto(
    who: str, engine: EmbeddedCryptoEngine, payload: bytes, plan: Plan
) -> Sample:
    if who == "aesgcm":
        return aesgcm_pairs(payload, plan.crypto_ops, plan.time_cap)
    if who == "engine":
        return await crypto_pairs(
            lambda p: engine.encrypt(CRYPTO_KEY, p),
            lambda c: engine.decrypt(CRYPTO_KEY, c),
            payload,
            plan.crypto_ops,
            plan.time_cap,
        )
    async with Node("bench-crypto") as node:
        crypto = CryptoClient(await node.spawn(CryptoService, engine), timeout=CALL_TIMEOUT)
        return await crypto_pairs(
            lambda p: crypto.encrypt(CRYPTO_KEY, p),
            lambda c: crypto.decrypt(CRYPTO_KEY, c),
            payload,
            plan.crypto_ops,
            plan.time_cap,
        )


# -- the run ----------------------------------------------------------------------------------


class Series:
    """Figures of every contender, repetition by repetition, and why any is missing."""

    def __init__(self) -> None:
        self.values: dict[str, list[float | None]] = {}
        self.missing: dict[str, str] = {}

    def add(self, name: str, value: float | None) -> None:
        self.values.setdefault(name, []).append(value)

    def lack(self, names: Sequence[str], why: str) -> None:
        for name in names:
            self.add(name, None)
            self.missing.setdefault(name, why)

    def get(self, name: str) -> list[float | None]:
        return self.values.get(name, [])


def store_key(backend: str, kind: str, op: str, mode: str, what: str = "per_s") -> str:
    suffix = "" if mode == "seq" else f"_{mode}"
    return f"{backend}_{kind}_{op}{suffix}_{what}"


async def unsealed_engine(directory: Path) -> EmbeddedCryptoEngine:
    """A fresh embedded engine, initialised, unsealed, with the benchmark's key."""
    engine = EmbeddedCryptoEngine(directory)
    shares = await engine.initialize(shares=3, threshold=2)
    for share in shares[:2]:
        await engine.submit_unseal_share(share)
    await engine.create_key(CRYPTO_KEY)
    return engine


async def measure_all(plan: Plan, couch: Couch) -> Series:
    """Every measure, contenders side by side within each repetition."""
    series = Series()
    payload = secrets.token_bytes(PAYLOAD_BYTES)
    with tempfile.TemporaryDirectory(prefix="enotime-bench-data-") as tmp:
        workdir = Path(tmp)
        engine = await unsealed_engine(workdir / "keyring")
        try:
            for rep in range(plan.repetitions):
                shift = rep % len(CONTENDERS)
                order = CONTENDERS[shift:] + CONTENDERS[:shift]
                for backend in BACKENDS:
                    for kind in order:
                        keys = {
                            f"{op}_{mode}": store_key(backend, kind, op, mode)
                            for op in OPS
                            for mode in MODES
                        }
                        latency_keys = [
                            store_key(backend, kind, op, "seq", p)
                            for op in OPS
                            for p in ("p50_us", "p99_us")
                        ]
                        try:
                            samples = await measure_store(
                                backend, kind, plan, workdir, couch, engine
                            )
                        except Missing as failure:
                            series.lack([*keys.values(), *latency_keys], str(failure))
                            continue
                        for name, key in keys.items():
                            series.add(key, samples[name].per_s)
                        for op in OPS:
                            sample = samples[f"{op}_seq"]
                            series.add(store_key(backend, kind, op, "seq", "p50_us"), sample.p50_us)
                            series.add(store_key(backend, kind, op, "seq", "p99_us"), sample.p99_us)
                crypto_order = ("actor", "engine", "aesgcm")[shift:] + (
                    "actor",
                    "engine",
                    "aesgcm",
                )[:shift]
                for who in crypto_order:
                    sample = await measure_crypto(who, engine, payload, plan)
                    series.add(f"crypto_{who}_encrypt_decrypt_per_s", sample.per_s)
                    if sample.p50_us is not None:
                        series.add(f"crypto_{who}_encrypt_decrypt_p50_us", sample.p50_us)
        finally:
            await engine.seal()
    return series


TARGET: Final = ">= 0.75"
"""Issue 4: encryption costs the store < 25 % of its plain throughput."""

TARGETS: Final = {
    f"{backend}_{op}{'' if mode == 'seq' else '_' + mode}_encrypted_vs_plain": TARGET
    for backend in BACKENDS
    for op in OPS
    for mode in MODES
}
"""Issue 4's target, for put and get on each backend, one at a time and concurrently."""

BACKEND_LABELS: Final = {"sqlite": "SQLite", "couchdb": "pouchdb"}
CRYPTO_PEERS: Final = ("actor", "engine", "aesgcm")


def build_report(
    series: Series, plan: Plan, quick: bool, couch: Couch, killed: list[int]
) -> Report:
    """Medians, paired ratios, targets and the table's rows, from the samples."""
    report = Report("data", targets=dict(TARGETS))
    figures, ratios = report.figures, report.ratios

    def figure(name: str) -> None:
        figures[name] = median(series.get(name))
        if figures[name] is None and name in series.missing:
            report.missing[name] = series.missing[name]

    for backend in BACKENDS:
        label = BACKEND_LABELS[backend]
        for op in OPS:
            for mode in MODES:
                suffix = "" if mode == "seq" else f"_{mode}"
                for kind in CONTENDERS:
                    figure(store_key(backend, kind, op, mode))
                    if mode == "seq":
                        figure(store_key(backend, kind, op, mode, "p50_us"))
                        figure(store_key(backend, kind, op, mode, "p99_us"))
                encrypted, plain, direct = (
                    series.get(store_key(backend, kind, op, mode)) for kind in CONTENDERS
                )
                vs_plain = f"{backend}_{op}{suffix}_encrypted_vs_plain"
                hop = f"{backend}_{op}{suffix}_plain_vs_direct"
                ratios[vs_plain] = paired_ratio(encrypted, plain)
                ratios[hop] = paired_ratio(plain, direct)
                how = "1 at a time" if mode == "seq" else f"{CONCURRENCY} in flight"
                report.rows.append(
                    Row(
                        f"{label} {op}/s, {how}: encrypted vs plain actor",
                        store_key(backend, "encrypted", op, mode),
                        store_key(backend, "plain", op, mode),
                        vs_plain,
                        vs_plain,
                    )
                )
                if mode == "seq":
                    for p in ("p50", "p99"):
                        report.rows.append(
                            Row(
                                f"  {p} {op}, us",
                                store_key(backend, "encrypted", op, mode, f"{p}_us"),
                                store_key(backend, "plain", op, mode, f"{p}_us"),
                            )
                        )
                report.rows.append(
                    Row(
                        "  plain actor vs adapter direct",
                        store_key(backend, "plain", op, mode),
                        store_key(backend, "direct", op, mode),
                        hop,
                    )
                )
    for who in CRYPTO_PEERS:
        figure(f"crypto_{who}_encrypt_decrypt_per_s")
    figure("crypto_actor_encrypt_decrypt_p50_us")
    figure("crypto_engine_encrypt_decrypt_p50_us")
    actor, engine, raw = (series.get(f"crypto_{who}_encrypt_decrypt_per_s") for who in CRYPTO_PEERS)
    ratios["crypto_actor_vs_aesgcm"] = paired_ratio(actor, raw)
    ratios["crypto_engine_vs_aesgcm"] = paired_ratio(engine, raw)
    ratios["crypto_actor_vs_engine"] = paired_ratio(actor, engine)
    report.rows += [
        Row(
            "1 KiB encrypt+decrypt/s: crypto actor vs raw AES-GCM",
            "crypto_actor_encrypt_decrypt_per_s",
            "crypto_aesgcm_encrypt_decrypt_per_s",
            "crypto_actor_vs_aesgcm",
        ),
        Row(
            "  embedded engine direct vs raw AES-GCM",
            "crypto_engine_encrypt_decrypt_per_s",
            "crypto_aesgcm_encrypt_decrypt_per_s",
            "crypto_engine_vs_aesgcm",
        ),
        Row(
            "  crypto actor vs embedded engine direct",
            "crypto_actor_encrypt_decrypt_per_s",
            "crypto_engine_encrypt_decrypt_per_s",
            "crypto_actor_vs_engine",
        ),
    ]

    report.notes.append(
        f"{'quick' if quick else 'full'} run, repetitions: {plan.repetitions}; figures are "
        "medians, ratios are medians of per-repetition ratios (ours / peer); "
        f"each timed loop: up to {plan.store_ops} store ops or {plan.crypto_ops} crypto pairs, "
        f"capped at {plan.time_cap:g} s"
    )
    report.notes.append(
        "store: encrypted = StoreClient -> StoreService -> CryptoService (embedded engine); "
        "plain = the same actor hop without sealing (the peer); direct = the adapter, no actor; "
        "a fresh SQLite file / CouchDB database per contender and repetition; SQLite with its "
        "defaults (WAL, synchronous=FULL: a put waits for fsync)"
    )
    report.notes.append(
        "documents: private email (indexed: blind index), name, note, public indexed plan; "
        "~300 bytes of fields"
    )
    if couch.url is not None:
        report.notes.append(
            f"CouchDB API: {couch.url} "
            f"({'started by this run' if couch.started else 'already running'})"
        )
    if killed:
        report.notes.append(f"processes of this run had to be killed by PID: {killed}")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    plan = QUICK if args.quick else FULL
    if args.repetitions:
        plan = replace(plan, repetitions=args.repetitions)
    marker = run_marker()
    with stdout_to_stderr(args.json):
        couch = couch_up(marker)
        try:
            series = asyncio.run(measure_all(plan, couch))
        finally:
            killed = couch_down(couch, marker)
        report = build_report(series, plan, args.quick, couch, killed)
    report.emit(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
