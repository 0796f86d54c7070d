"""Summarise py-spy collapsed stacks (``--format raw``, idle frames dropped) written by bench_gateway.py
with OMB_BENCH_PROFILE: CPU ms per request by activity, and the top functions by self and inclusive time.

Run: ``python tests/perf/profile_summary.py <stacks.txt> <requests> [sample_rate_hz]``.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

# Innermost matching frame decides a sample's activity (so json.dumps inside the NATS request counts as JSON).
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("JWT verification", ("jwt/", "TokenService.verify", "cryptography/")),
    ("JSON encode/decode", ("json/", "orjson", "json.py")),
    ("pydantic validation/serialisation", ("pydantic", "fastapi/_compat", "jsonable_encoder", "serialize_response",
                                           "fastapi/encoders", "contracts/envelope")),
    ("SQL (SQLAlchemy + asyncpg)", ("sqlalchemy/", "asyncpg/")),
    ("NATS client (publish, inbox, parse)", ("nats/",)),
    ("token/role checks (auth cache)", ("active_user", "current_principal", "authenticate")),
    ("membership checks", ("require_member", "visible_project", "visible_run")),
    ("HTTP server (uvicorn, starlette, FastAPI routing)", ("uvicorn/", "httptools", "h11", "starlette/", "fastapi/")),
    ("service handlers (FastStream / rpc dispatch)", ("faststream/", "eventstore/rpc", "eventstore/")),
    ("asyncio event loop / uvloop", ("asyncio/", "uvloop", "selectors")),
]


# Leaves where the sampler caught the loop waiting (py-spy's idle detection misses epoll waits and uvloop's
# C loop): counted apart, not as work.
IDLE_LEAVES = ("EpollSelector.select", "Runner.run (asyncio/runners.py", "Condition.wait", "BaseEventLoop.run_forever")


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    return stack.split(";"), int(count)


def category(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def function(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def main(path: str, requests: int, rate: int = 200) -> None:
    per_cat: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    with open(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            stack, n = frames(line)
            if any(stack[-1].startswith(leaf) for leaf in IDLE_LEAVES):
                idle += n
                continue
            total += n
            per_cat[category(stack)] += n
            self_time[function(stack[-1])] += n
            for f in {function(f) for f in stack}:
                inclusive[f] += n
    ms = 1000 / rate
    print(f"{path}: {total} busy samples = {total * ms / 1000:.1f} s, {total * ms / requests:.2f} ms per request "
          f"({requests} requests; {idle} more samples caught the loop waiting)")
    print("by activity (CPU ms per request, share):")
    for name, n in per_cat.most_common():
        print(f"  {n * ms / requests:6.3f}  {100 * n / total:5.1f} %  {name}")
    print("top 10 self:")
    for name, n in self_time.most_common(10):
        print(f"  {100 * n / total:5.1f} %  {name}")
    print("top 10 inclusive:")
    # Frames on (nearly) every stack are the entry points (runpy, uvicorn.run, pytest): not informative.
    informative = [(name, n) for name, n in inclusive.most_common() if n < 0.6 * total]
    for name, n in informative[:10]:
        print(f"  {100 * n / total:5.1f} %  {name}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
