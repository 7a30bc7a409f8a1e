"""The reference system end to end, as the README runs it: ``enotime run`` in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def enotime(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "enotime", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_demo_crashes_restarts_loses_no_job_and_exits_zero() -> None:
    process = enotime("run", "supervisors.demo:tree", "--name", "demo")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert (
        "child 'worker-1' stopped (crash: WorkerCrashed('job 10 is poisoned')), restarting"
        in output
    )
    assert "job 10 lost its worker" in output
    assert "queued again" in output
    assert "all 24 jobs settled: 22 done, 2 dead after retries" in output
    done = {line.split("job ")[1].split()[0] for line in output.splitlines() if " done by " in line}
    assert done == {str(n) for n in range(1, 25)} - {"10", "20"}


def test_sigterm_stops_the_tree_in_reverse_order_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "forever.py").write_text(
        textwrap.dedent(
            """
            import sys
            from enotime import Actor, ExitReason, child, supervisor

            class Loud(Actor):
                def __init__(self, label: str) -> None:
                    self.label = label

                async def on_start(self) -> None:
                    print("started", self.label, flush=True)

                async def on_stop(self, reason: ExitReason) -> None:
                    print("stopped", self.label, reason, flush=True)

            tree = supervisor("root", [child(Loud, "a", id="a"), child(Loud, "b", id="b")])
            """
        )
    )
    process = enotime("run", "forever:tree", cwd=tmp_path)
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(2)]
    assert lines == ["started a", "started b"]
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert output.index("stopped b shutdown") < output.index("stopped a shutdown")


def test_a_root_supervisor_that_gives_up_makes_the_process_exit_non_zero(tmp_path: Path) -> None:
    (tmp_path / "doomed.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from enotime import Actor, child, handler, supervisor

            @dataclass(frozen=True)
            class Crash:
                pass

            class Doomed(Actor):
                async def on_start(self) -> None:
                    self.send_after(0, Crash())

                @handler
                def crash(self, message: Crash) -> None:
                    raise RuntimeError("doomed")

            tree = supervisor("root", [child(Doomed)], max_restarts=2)
            """
        )
    )
    process = enotime("run", "doomed:tree", cwd=tmp_path)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1, output
    assert "more than 2 restarts in 5 s, giving up" in output
    assert "the root stopped by itself (shutdown(reached_max_restart_intensity))" in output


def test_a_bad_target_is_a_clear_error() -> None:
    process = enotime("run", "no_such_module:tree")
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "cannot import 'no_such_module'" in output


def test_a_missing_setting_is_one_line_and_status_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENOTIME_", "VAULT_"))}
    process = subprocess.run(
        [sys.executable, "-m", "enotime", "run", "supervisors.production:system", "--name", "p"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2, process.stderr
    assert process.stderr.strip().splitlines() == [
        "enotime run: supervisors.production:system: "
        "set VAULT_ADDR: the production tree has no embedded fallback"
    ]


def test_the_demo_service_keeps_jobs_flowing_until_sigterm() -> None:
    process = enotime("run", "supervisors.demo:service", "--name", "svc")
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:  # bounded by the jobs it runs: a line per job
        seen.append(line)
        if "progress:" in line and "/- done" in line:
            break
        assert len(seen) < 500, "no progress report"
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stop requested, shutting down" in output
