"""The ledger: one SQLite file (WAL) shared by the CLI, cron and the webhook listener.

Tables:
- events: per Tripleseat event its local_id, Revel order id, outcome, plan hash,
  timestamps and last error. The outcome "creating" marks an order whose
  phases are not all written yet; the next sync resumes it.
- runs: one row per `event`, `recent` or webhook-triggered run.
- claims: at most one process syncs an event at a time (atomic INSERT).
- inbox: webhook deliveries, committed before the listener responds 200.
- tokens: the cached Tripleseat access token, reused across processes.

The schema carries a version in `PRAGMA user_version`; `MIGRATIONS[n]`
upgrades version n to n + 1.
"""

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from tsync.errors import ConfigError

MIGRATIONS = [
    """
    CREATE TABLE events (
        event_id INTEGER PRIMARY KEY,
        local_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        establishment_id INTEGER,
        revel_order_id INTEGER,
        outcome TEXT NOT NULL,
        reason TEXT,
        last_error TEXT,
        plan_hash TEXT,
        run_id TEXT,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        injected_at TEXT,
        cancelled_at TEXT
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        mode TEXT NOT NULL,
        dry_run INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        queried INTEGER,
        injected INTEGER,
        skipped INTEGER,
        failed INTEGER
    );
    CREATE TABLE claims (
        event_id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        body_hash TEXT NOT NULL UNIQUE,
        dedupe_key TEXT NOT NULL,
        trigger TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        correlation_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        received_at REAL NOT NULL,
        finished_at REAL,
        last_error TEXT
    );
    CREATE INDEX inbox_pending ON inbox (state, next_attempt_at);
    CREATE UNIQUE INDEX inbox_pending_key ON inbox (dedupe_key) WHERE state = 'pending';
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        access_token TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
]


def utc_now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Access to the ledger file. Safe to share between threads of one process."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._connection = self._connect()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists()
            connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            if not existed:
                # The file contains a cached API token and guests' event names.
                os.chmod(self.path, 0o600)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=30000")
        except (sqlite3.Error, OSError) as error:
            raise ConfigError(f"cannot open ledger {self.path}: {error} (check TSYNC_DB and the folder's permissions)") from None
        return connection

    def _migrate(self) -> None:
        with self.transaction() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise ConfigError(
                    f"ledger {self.path} has schema version {version}, newer than this tsync "
                    f"understands ({len(MIGRATIONS)}): upgrade tsync"
                )
            for number in range(version, len(MIGRATIONS)):
                # executescript() would commit the open transaction, so run statement by statement.
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return self._connection.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self):
        """Run the block in one IMMEDIATE transaction, so writers never interleave."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # events

    def get_event(self, event_id: int) -> dict | None:
        with self._lock:
            row = self._connection.execute("SELECT * FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return dict(row) if row else None

    def record_event(self, event_id: int, local_id: str, **fields) -> None:
        """Insert or update the ledger row of one event with the given columns."""
        allowed = {
            "name", "establishment_id", "revel_order_id", "outcome", "reason", "last_error",
            "plan_hash", "run_id", "injected_at", "cancelled_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown ledger columns: {sorted(unknown)}")

        now = utc_now_text()
        with self.transaction() as connection:
            exists = connection.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
            if not exists:
                connection.execute(
                    "INSERT INTO events (event_id, local_id, outcome, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (event_id, local_id, fields.get("outcome", "seen"), now, now),
                )
            assignments = ", ".join(f"{column} = ?" for column in fields)
            parameters = [*fields.values(), now, local_id, event_id]
            prefix = f"{assignments}, " if assignments else ""
            connection.execute(
                f"UPDATE events SET {prefix}updated_at = ?, local_id = ? WHERE event_id = ?", parameters
            )

    def events_with_outcome(self, outcome: str) -> list[dict]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM events WHERE outcome = ? ORDER BY event_id", (outcome,)
            ).fetchall()
        return [dict(row) for row in rows]

    # runs

    def start_run(self, run_id: str, mode: str, dry_run: bool) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO runs (run_id, mode, dry_run, started_at) VALUES (?, ?, ?, ?)",
                (run_id, mode, int(dry_run), utc_now_text()),
            )

    def finish_run(self, run_id: str, summary: dict[str, int]) -> None:
        with self.transaction() as connection:
            connection.execute(
                "UPDATE runs SET ended_at = ?, queried = ?, injected = ?, skipped = ?, failed = ? WHERE run_id = ?",
                (utc_now_text(), summary["queried"], summary["injected"], summary["skipped"], summary["failed"], run_id),
            )

    def get_run(self, run_id: str) -> dict | None:
        with self._lock:
            row = self._connection.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    # claims

    def claim_event(self, event_id: int, owner: str, ttl_seconds: float = 600) -> bool:
        """Claim an event for one sync; return False when another owner holds a live claim.

        A claim older than its TTL is taken over, so a crashed process blocks
        an event for at most `ttl_seconds`. Claiming again as the same owner
        renews the claim.
        """
        now = time.time()
        with self.transaction() as connection:
            connection.execute("DELETE FROM claims WHERE event_id = ? AND expires_at < ?", (event_id, now))
            cursor = connection.execute(
                "INSERT OR IGNORE INTO claims (event_id, owner, expires_at) VALUES (?, ?, ?)",
                (event_id, owner, now + ttl_seconds),
            )
            if cursor.rowcount == 1:
                return True
            # The owner claiming again renews its claim.
            cursor = connection.execute(
                "UPDATE claims SET expires_at = ? WHERE event_id = ? AND owner = ?", (now + ttl_seconds, event_id, owner)
            )
            return cursor.rowcount == 1

    def release_event(self, event_id: int, owner: str) -> None:
        with self.transaction() as connection:
            connection.execute("DELETE FROM claims WHERE event_id = ? AND owner = ?", (event_id, owner))

    # tokens

    def get_token(self, name: str) -> tuple[str, float] | None:
        with self._lock:
            row = self._connection.execute("SELECT access_token, expires_at FROM tokens WHERE name = ?", (name,)).fetchone()
        return (row["access_token"], row["expires_at"]) if row else None

    def save_token(self, name: str, access_token: str, expires_at: float) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO tokens (name, access_token, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET access_token = excluded.access_token, expires_at = excluded.expires_at",
                (name, access_token, expires_at),
            )

    def forget_token(self, name: str) -> None:
        with self.transaction() as connection:
            connection.execute("DELETE FROM tokens WHERE name = ?", (name,))

    # inbox

    def enqueue_delivery(self, *, body_hash: str, dedupe_key: str, trigger: str, event_id: int, correlation_id: str) -> bool:
        """Commit a webhook delivery; return False when it repeats one already stored.

        A repeat is the same body at any time, or the same dedupe key while a
        delivery with that key is still pending. Once that one is processed, a
        new delivery with the key is stored, because Tripleseat's updated_at
        has whole minutes and two changes in one minute share a key.
        """
        now = time.time()
        with self.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO inbox (body_hash, dedupe_key, trigger, event_id, correlation_id, next_attempt_at, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (body_hash, dedupe_key, trigger, event_id, correlation_id, now, now),
            )
            return cursor.rowcount == 1

    def next_delivery(self, now: float | None = None) -> dict | None:
        """Return the oldest pending delivery that is due, or None."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._connection.execute(
                "SELECT * FROM inbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT 1", (now,)
            ).fetchone()
        return dict(row) if row else None

    def begin_delivery(self, delivery_id: int, lease_seconds: float, now: float | None = None) -> int | None:
        """Take a due delivery for one attempt; return the attempt's number, or None when it is not ours.

        The attempt is counted before it runs, so a delivery that crashes the
        process still uses up its attempts. Its next attempt time moves past
        the lease, so no other worker takes it meanwhile, and after a crash it
        becomes due again once the lease ends.
        """
        now = time.time() if now is None else now
        with self.transaction() as connection:
            cursor = connection.execute(
                "UPDATE inbox SET attempts = attempts + 1, next_attempt_at = ? "
                "WHERE id = ? AND state = 'pending' AND next_attempt_at <= ?",
                (now + lease_seconds, delivery_id, now),
            )
            if cursor.rowcount != 1:
                return None
            return connection.execute("SELECT attempts FROM inbox WHERE id = ?", (delivery_id,)).fetchone()[0]

    def finish_delivery(self, delivery_id: int, state: str, error: str | None = None) -> None:
        """Mark a delivery 'done' or 'dead'."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE inbox SET state = ?, finished_at = ?, last_error = ? WHERE id = ?",
                (state, time.time(), error, delivery_id),
            )

    def retry_delivery(self, delivery_id: int, next_attempt_at: float, error: str) -> None:
        """Schedule the next attempt of a delivery whose attempt failed."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE inbox SET next_attempt_at = ?, last_error = ? WHERE id = ?",
                (next_attempt_at, error, delivery_id),
            )

    def inbox_status(self) -> dict:
        """Return the number of pending deliveries and the age in seconds of the oldest one."""
        with self._lock:
            row = self._connection.execute(
                "SELECT COUNT(*) AS depth, MIN(received_at) AS oldest FROM inbox WHERE state = 'pending'"
            ).fetchone()
        oldest_age = None if row["oldest"] is None else max(0.0, time.time() - row["oldest"])
        return {"depth": row["depth"], "oldest_pending_seconds": oldest_age}

    def get_delivery(self, delivery_id: int) -> dict | None:
        with self._lock:
            row = self._connection.execute("SELECT * FROM inbox WHERE id = ?", (delivery_id,)).fetchone()
        return dict(row) if row else None

    def deliveries(self) -> list[dict]:
        with self._lock:
            rows = self._connection.execute("SELECT * FROM inbox ORDER BY id").fetchall()
        return [dict(row) for row in rows]
