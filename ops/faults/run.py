"""Fault scenarios against the production process layout, each with a PASS/FAIL verdict.

    .venv/bin/python ops/faults/run.py --help            # the scenarios
    .venv/bin/python ops/faults/run.py reconcile-kill    # one
    .venv/bin/python ops/faults/run.py all               # every one, in order, each on a fresh stack

Each scenario builds its own stack (``ops/stack.py``: a private PostgreSQL on 5451 and Redis on 6401, two API
processes on 8321/8322, a worker, the scheduler; logs in ``var/ops/faults-<scenario>/``), breaks something while
work is running, waits (bounded) for recovery, asserts what must hold in SQL, and ends with ``bnpl check``. The
exit status is 0 only if every scenario run passed. See ops/faults/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "scenarios"))

from common import Context, finish, log, make_stack  # noqa: E402

SCENARIOS = (
    "reconcile_kill",
    "dunning_kill",
    "settlement_kill",
    "redis_outage",
    "postgres_restart",
    "api_kill",
    "notifications",
)


def load(module: str) -> Any:
    return importlib.import_module(module)


class ScenarioTimeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise ScenarioTimeout("the scenario ran past its time limit (--timeout)")


def run_one(module: Any, *, keep: bool, timeout: int) -> tuple[bool, dict[str, Any]]:
    """Build the scenario's stack, run it, run the closing checks, print the verdict; ``(passed, details)``."""
    stack = make_stack(module.NAME, **module.STACK)
    ctx = Context(module.NAME, stack)
    log(f"=== {module.NAME}: {module.TITLE}")
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        stack.prepare()
        stack.start()
        ctx.details["stack_ready_seconds"] = round(ctx.elapsed(), 1)
        module.run(ctx)
        finish(ctx, **getattr(module, "FINISH", {}))
    except Exception as exc:  # noqa: BLE001 - a scenario that crashes fails, and the next one still runs
        traceback.print_exc()
        ctx.fail(f"the scenario crashed: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        if keep:
            log(f"--keep: the stack stays up (logs and database in {stack.base}); Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        stack.stop()
    ctx.details["seconds"] = round(ctx.elapsed(), 1)
    ctx.details["logs"] = str(stack.base.relative_to(HERE.parents[1]))
    print(json.dumps(ctx.details, indent=2, ensure_ascii=False, default=str))
    if ctx.failures:
        print(f"FAIL {module.NAME}")
        for failure in ctx.failures:
            print(f"  - {failure}")
    else:
        print(f"PASS {module.NAME}")
    sys.stdout.flush()
    return not ctx.failures, ctx.details


def main() -> int:
    modules = {
        load(name).NAME: load(name) for name in SCENARIOS if (HERE / "scenarios" / f"{name}.py").exists()
    }  # TEMP
    listing = "\n".join(f"  {name:<18} {module.TITLE}" for name, module in modules.items())
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"scenarios:\n{listing}\n  {'all':<18} every scenario above, in this order",
    )
    parser.add_argument(
        "scenario", nargs="+", choices=[*modules, "all"], metavar="SCENARIO", help="a name below, or all"
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack up after the scenario (Ctrl-C stops it)")
    parser.add_argument("--json", metavar="FILE", help="also write every scenario's verdict and figures to FILE")
    parser.add_argument(
        "--timeout", type=int, default=900, metavar="SECONDS", help="a scenario still running after this fails (900)"
    )
    args = parser.parse_args()
    names = list(modules) if "all" in args.scenario else args.scenario
    started = time.monotonic()
    results: dict[str, Any] = {}
    for name in names:
        passed, details = run_one(modules[name], keep=args.keep, timeout=args.timeout)
        results[name] = {"passed": passed, **details}
    if len(names) > 1:
        print(f"\n=== {len(names)} scenarios in {time.monotonic() - started:.0f} s")
        for name, result in results.items():
            print(f"{'PASS' if result['passed'] else 'FAIL'} {name:<18} {result['seconds']:>6.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    return 0 if all(r["passed"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
