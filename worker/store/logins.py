"""The login throttle's state, shared through the database by every process of the review app.

One row per throttled key (`name:<normalised user name>` or `addr:<client address>`): a failure score that
decays over time (a leaky bucket) and the moment until which the key must wait. An attempt is charged before
the password is checked, so a burst of parallel guesses cannot all slip through before the first failure is
recorded; a successful login forgives the name and refunds the address.

Why a decaying score and not a lockout: a lockout that one wrong try renews lets a stranger keep a named
admin out for ever. Here a stranger's occasional try decays away before the next one; only a fast guesser
reaches the back-off, which doubles per extra failure up to `max_delay_s`."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Float, String, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from worker.store.db import Base

MAX_KEY_LENGTH = 200


class LoginThrottleRow(Base):
    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # epoch seconds: plain numbers keep the arithmetic the same on SQLite and PostgreSQL
    updated_s: Mapped[float] = mapped_column(Float, index=True)
    blocked_until_s: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass(frozen=True)
class ThrottleRule:
    free_attempts: float  # a score below this never waits
    base_delay_s: float
    max_delay_s: float
    decay_s: float  # one point of score fades in this many seconds

    def delay(self, score: float) -> float:
        # attempts seconds apart have faded a little; counted to the nearest whole attempt, they count in full
        over = round(score) - self.free_attempts
        if over < 0:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2 ** int(over))


# a name: 5 quick failures, then 2 s, 4 s, ... up to 5 min between guesses; a point fades in 5 min, so one
# wrong try every 5 minutes never reaches the back-off
NAME_RULE = ThrottleRule(free_attempts=5, base_delay_s=2.0, max_delay_s=300.0, decay_s=300.0)
# an address (an office behind one NAT address logs in every morning): more room, faster decay
ADDRESS_RULE = ThrottleRule(free_attempts=20, base_delay_s=2.0, max_delay_s=300.0, decay_s=60.0)


def name_key(name: str) -> str:
    """The one normalised form of a user name, for lookup and throttle alike: NFC, whitespace collapsed and
    trimmed, case folded (`" Rev2 "`, `"REV2"` and `"rev2"` are one account and one throttle bucket)."""
    folded = " ".join(unicodedata.normalize("NFC", name).split()).casefold()
    return unicodedata.normalize("NFC", folded)


class LoginThrottle:
    """Charges login attempts against rules per key; every call is its own short transaction, committed
    before the (slow) password check, so a waiting check never holds a database lock."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        rules: dict[str, ThrottleRule] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_factory = session_factory
        self.rules = rules or {"name": NAME_RULE, "addr": ADDRESS_RULE}
        self.clock = clock
        self._charges = 0

    def keys(self, name: str, address: str | None) -> list[str]:
        keys = [f"name:{name_key(name)}"[:MAX_KEY_LENGTH]]
        if address:
            keys.append(f"addr:{address}"[:MAX_KEY_LENGTH])
        return sorted(keys)  # one lock order for every transaction: no deadlock between two logins

    def _rule(self, key: str) -> ThrottleRule:
        return self.rules[key.split(":", 1)[0]]

    def charge(self, name: str, address: str | None) -> float:
        """Seconds to wait before this attempt may be made (nothing charged), or 0.0: the attempt is charged
        and may go ahead."""
        keys = self.keys(name, address)
        with self.session_factory() as session, session.begin():
            rows = [_locked_row(session, key, self.clock()) for key in keys]
            now = self.clock()  # read under the locks: a login that waited for them sees its own moment
            wait = max(row.blocked_until_s - now for row in rows)
            if wait > 0:
                return wait
            for row in rows:
                rule = self._rule(row.key)
                row.score = _decayed(row, rule, now) + 1.0
                row.updated_s = now
                row.blocked_until_s = now + rule.delay(row.score)
        self._charges += 1
        if self._charges % 500 == 0:
            self.prune()
        return 0.0

    def forgive(self, name: str, address: str | None) -> None:
        """A successful login: the name starts afresh; the address gets this attempt back."""
        now = self.clock()
        with self.session_factory() as session, session.begin():
            for key in self.keys(name, address):
                if key.startswith("name:"):
                    session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key == key))
                    continue
                row = session.get(LoginThrottleRow, key, with_for_update=True)
                if row is not None:
                    rule = self._rule(key)
                    row.score = max(0.0, _decayed(row, rule, now) - 1.0)
                    row.updated_s = now
                    row.blocked_until_s = now + rule.delay(row.score) if rule.delay(row.score) else 0.0

    def prune(self) -> int:
        """Forget keys whose score has faded and that wait for nothing (a flood of made-up names)."""
        now = self.clock()
        longest = max(r.decay_s * (r.free_attempts + 10) for r in self.rules.values())
        with self.session_factory() as session, session.begin():
            result = session.execute(
                delete(LoginThrottleRow).where(
                    LoginThrottleRow.updated_s < now - longest, LoginThrottleRow.blocked_until_s < now
                )
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _decayed(row: LoginThrottleRow, rule: ThrottleRule, now: float) -> float:
    return max(0.0, row.score - max(0.0, now - row.updated_s) / rule.decay_s)


def _locked_row(session: Session, key: str, now: float) -> LoginThrottleRow:
    """The key's row, locked for this transaction (created when missing). The first statement writes, so on
    SQLite the transaction holds the write lock from the start and never has to upgrade a read lock (which
    fails at once under contention instead of waiting)."""
    for _ in range(3):
        touched = session.execute(
            update(LoginThrottleRow)
            .where(LoginThrottleRow.key == key)
            .values(key=LoginThrottleRow.key)
            .execution_options(synchronize_session=False)
        )
        if touched.rowcount == 1:  # type: ignore[attr-defined]
            row = session.get(LoginThrottleRow, key, populate_existing=True)
            assert row is not None
            return row
        try:
            with session.begin_nested():
                row = LoginThrottleRow(key=key, score=0.0, updated_s=now, blocked_until_s=0.0)
                session.add(row)
            return row
        except IntegrityError:  # another login created it meanwhile: lock theirs
            continue
    raise RuntimeError(f"login throttle: could not lock {key!r}")
