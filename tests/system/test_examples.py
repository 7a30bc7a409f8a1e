"""The examples the docs walk through run and say what the docs say they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bank_example_refuses_crashes_and_restarts_with_fresh_state() -> None:
    result = subprocess.run(
        [sys.executable, "examples/bank.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert "balance after deposit: 150" in lines
    assert "refused: balance 150 < 500" in lines
    assert any(
        "child 'alice' stopped (crash: RuntimeError('ledger corrupted'))" in x for x in lines
    )
    assert "balance after restart: 100" in lines
    assert lines.count("account alice opened with 100") == 2
    assert "child alice: restarted 1 time(s)" in lines
