"""Login throttling that slows guessing without letting anyone lock a user out.

Design (what a serious product does: back off the *source* of failures, never the account alone):

* **Per (account, client IP)** — `gateway.login_throttle` row `acct:<username>|<ip>`. The first
  `throttle_free_attempts` failures from one address on one username cost nothing; each further
  failure makes the next attempt from that address wait `throttle_base_seconds * 2**k` (k = 0, 1,
  2 ... for the failures beyond the free ones, at most `throttle_max_seconds`). An attempt made while waiting is refused *without* looking at the
  password, with the same 401 "invalid username or password" as any other failure. The key is the
  lower-cased *username as typed*, so unknown and known usernames are throttled identically and the
  answer never tells whether an account exists. A success from that address clears the row.
* **Per account** — the existing `LoginFailed.failed_attempts` counter and `UserLockedOut` event.
  Reaching `lockout_threshold` failures (from any addresses) raises the account's lockout *flag*
  (`locked_until`, visible to admins in `GET /users`) for `lockout_minutes`. The flag is not an
  absolute lock: while it is up, an address that has already failed on this account is refused
  until the flag ends, and every other address gets zero free attempts (its first failure starts
  its backoff). So the real user, from an address the attacker does not control, still logs in
  with the right password, while a botnet gets at most one guess per address per backoff period.
* **Per client IP** — `ip:<ip>` counts failures on *any* username (known or not) from one address.
  Past `ip_free_attempts` in `throttle_window_minutes` the address backs off exponentially too and
  gets **429 with Retry-After**: this answer depends only on the address's own behaviour, never on
  whether an account exists, so it can be explicit.

Rows are kept in PostgreSQL (shared by every gateway replica); a row whose last failure is older
than `throttle_window_minutes` starts from zero. Admins clear an account's flag and throttles with
`POST /api/v1/users/{id}/unlock` (event `UserUnlocked`); time clears them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.gateway.settings import GatewaySettings


def throttle_ddl(schema: str) -> list[str]:
    """The throttle table (idempotent)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.login_throttle (
            key text PRIMARY KEY,
            failures int NOT NULL DEFAULT 0,
            last_failure_at timestamptz NOT NULL,
            blocked_until timestamptz
        )""",
    ]


def account_key(username: str, ip: str) -> str:
    return f"acct:{username.lower()}|{ip}"


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


def backoff(failures: int, free: int, base: float, cap: float) -> float:
    """Seconds to wait after `failures` failures when the first `free` ones cost nothing:
    the next one costs `base`, then each doubles, at most `cap`."""
    beyond = failures - free - 1
    if beyond < 0:
        return 0.0
    return float(min(cap, base * 2 ** min(beyond, 30)))


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may go ahead now; `retry_after` seconds when not."""

    allowed: bool
    retry_after: int = 0
    seen_failures: bool = False  # the (account, IP) pair has failures in the window


class LoginThrottle:
    """Reads and updates `<schema>.login_throttle` inside the caller's connection/transaction."""

    def __init__(self, schema: str, settings: GatewaySettings):
        self.schema = schema
        self.s = settings

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.s.throttle_window_minutes)

    async def _row(self, conn: AsyncConnection, key: str, now: datetime) -> tuple[int, datetime | None]:
        row = (await conn.execute(text(f"SELECT failures, last_failure_at, blocked_until FROM {self.schema}.login_throttle "
                                       "WHERE key = :k"), {"k": key})).first()
        if row is None or now - row.last_failure_at > self.window:
            return 0, None
        return int(row.failures), row.blocked_until

    async def check_ip(self, conn: AsyncConnection, ip: str, now: datetime) -> Verdict:
        _, blocked = await self._row(conn, ip_key(ip), now)
        if blocked is not None and now < blocked:
            return Verdict(False, _seconds(blocked - now))
        return Verdict(True)

    async def check_account(self, conn: AsyncConnection, username: str, ip: str, now: datetime) -> Verdict:
        failures, blocked = await self._row(conn, account_key(username, ip), now)
        if blocked is not None and now < blocked:
            return Verdict(False, _seconds(blocked - now), failures > 0)
        return Verdict(True, 0, failures > 0)

    async def failed(self, conn: AsyncConnection, username: str, ip: str, now: datetime, *,
                     account_flagged: bool) -> None:
        """Count one failure against the (account, IP) pair and the IP, and set their backoff."""
        free = 0 if account_flagged else self.s.throttle_free_attempts
        await self._bump(conn, account_key(username, ip), now, free)
        await self._bump(conn, ip_key(ip), now, self.s.ip_free_attempts)

    async def _bump(self, conn: AsyncConnection, key: str, now: datetime, free: int) -> None:
        failures, _ = await self._row(conn, key, now)
        failures += 1
        wait = backoff(failures, free, self.s.throttle_base_seconds, self.s.throttle_max_seconds)
        await conn.execute(
            text(f"""INSERT INTO {self.schema}.login_throttle (key, failures, last_failure_at, blocked_until)
                     VALUES (:k, :f, :now, :until)
                     ON CONFLICT (key) DO UPDATE SET failures = EXCLUDED.failures,
                       last_failure_at = EXCLUDED.last_failure_at, blocked_until = EXCLUDED.blocked_until"""),
            {"k": key, "f": failures, "now": now, "until": now + timedelta(seconds=wait) if wait else None},
        )

    async def succeeded(self, conn: AsyncConnection, username: str, ip: str) -> None:
        await conn.execute(text(f"DELETE FROM {self.schema}.login_throttle WHERE key = :k"),
                           {"k": account_key(username, ip)})

    async def clear_account(self, conn: AsyncConnection, username: str) -> None:
        """Forget every (account, IP) backoff of `username` (admin unlock)."""
        prefix = account_key(username, "").rstrip("|")
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "|%"
        await conn.execute(text(f"DELETE FROM {self.schema}.login_throttle WHERE key LIKE :p"), {"p": like})


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))
