"""The worker loop: receive → process (with a visibility heartbeat) → commit → ack, and the process supervisor.

Decisions per message (the error taxonomy, like OCRmyPDF's exit codes):
- done, or a permanent input error (recorded with its stable code)          → ack;
- a message we cannot parse                                                → dead-letter at once (bad_message);
- transient trouble (storage or database unavailable, OCR engine failed, a bug) → release with exponential
  backoff; after ``max_receive_count`` receives → dead-letter with the error recorded on the job;
- database or storage unavailable also pauses this worker (a circuit breaker), so an outage costs each
  message one receive instead of burning through its retries.

SIGTERM: stop receiving, let the current message finish within the grace period, else release it (it is
redelivered at once to another worker) and exit. A second SIGTERM/SIGINT exits at once. kill -9 needs no
handling: an unacknowledged message reappears after its visibility timeout and is processed idempotently.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from models.errors import ErrorCode
from models.settings import Settings
from worker import metrics
from worker.errors import IntakeError, UntrustedMessage
from worker.intake.events import WorkItem, parse_body
from worker.intake.processor import Outcome, Processor
from worker.intake.queues import Message, Queue, make_queue
from worker.intake.sources import InboxWatcher, archive_dir

log = logging.getLogger(__name__)

INFRA_CODES = frozenset({ErrorCode.DATABASE_UNAVAILABLE.value, ErrorCode.STORAGE_UNAVAILABLE.value})


@dataclass
class WorkerOptions:
    wait_s: float = 20.0  # long-poll wait per receive
    heartbeat_s: float | None = None  # default: a third of the visibility timeout
    grace_s: float | None = None  # default: settings.shutdown_grace_s
    backoff_base_s: float = 5.0
    backoff_max_s: float = 900.0
    pause_max_s: float = 60.0  # longest circuit-breaker pause after database/storage errors
    drain: bool = False  # exit once the queue (and the inbox) is empty
    watch: bool = True  # run the inbox watcher in this process (inbox mode)
    settle_s: float = 2.0  # inbox: a file must be unchanged this long before it is taken
    key_prefix: str = ""  # bucket prefix under which the first path component is the submission
    max_messages: int | None = None  # stop after this many messages (tests, benchmarks)


@dataclass
class Decision:
    action: str  # ack | release | dead
    delay_s: int = 0
    code: str | None = None
    reason: str = ""
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass
class WorkerStats:
    messages: int = 0
    results: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """(error code, message) for an exception raised while processing: the transient side of the taxonomy."""
    if isinstance(exc, IntakeError):
        return exc.code.value, exc.message
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return ErrorCode.DATABASE_UNAVAILABLE.value, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ErrorCode.DATABASE_UNAVAILABLE.value, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    if isinstance(exc, BotoCoreError | ClientError):
        return ErrorCode.STORAGE_UNAVAILABLE.value, f"{type(exc).__name__}: {exc}"
    return ErrorCode.INTERNAL.value, f"{type(exc).__name__}: {exc}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        queue: Queue,
        processor: Processor,
        options: WorkerOptions | None = None,
        health: metrics.Health | None = None,
        idle_check: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.processor = processor
        self.options = options or WorkerOptions()
        self.health = health or metrics.Health()
        self.idle_check = idle_check  # extra "nothing more is coming" condition for drain mode
        self.visibility_s = int(getattr(queue, "visibility_timeout_s", settings.visibility_timeout_s))
        self.heartbeat_s = self.options.heartbeat_s or max(1.0, self.visibility_s / 3)
        self.grace_s = self.options.grace_s if self.options.grace_s is not None else settings.shutdown_grace_s
        self.stop = threading.Event()
        self.deadline: float | None = None  # monotonic time when the grace period ends
        self.stats = WorkerStats()
        self._infra_failures = 0
        self._pause_until = 0.0
        # set by a database/storage failure: no message is received until a probe succeeds, so an outage
        # costs each message at most one receive instead of burning through its retry budget
        self._degraded: str | None = None
        self._force_exit = False

    # ------------------------------------------------------------------ signals

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stop.is_set():
            log.warning("second %s: releasing the current message and exiting now", signal.Signals(signum).name)
            self._force_exit = True
            self.deadline = time.monotonic()
            return
        log.info(
            "%s: no new messages; finishing the current one (grace %.0f s)", signal.Signals(signum).name, self.grace_s
        )
        self.request_stop()

    def request_stop(self) -> None:
        self.deadline = time.monotonic() + self.grace_s
        self.stop.set()

    # ------------------------------------------------------------------ loop

    def run(self) -> WorkerStats:
        log.info(
            "worker %s: queue %s, store %s", self.processor.worker_id, self.queue.name, self.processor.store.origin
        )
        while not self.stop.is_set():
            self.health.tick()
            now = time.monotonic()
            if now < self._pause_until:
                self.stop.wait(min(1.0, self._pause_until - now))
                continue
            if self._degraded and not self._recovered():
                continue
            try:
                msg = self.queue.receive(self.options.wait_s, stop=self.stop)
            except IntakeError as exc:
                log.warning("receive failed: %s", exc)
                self._pause(exc.code.value)
                continue
            if msg is None:
                if self.options.drain and self._drained():
                    log.info("queue drained; exiting")
                    break
                continue
            if self.stop.is_set():
                self.queue.release(msg)  # received after SIGTERM: hand it straight back
                break
            self._handle_with_heartbeat(msg)
            if self.options.max_messages is not None and self.stats.messages >= self.options.max_messages:
                break
        return self.stats

    def _drained(self) -> bool:
        try:
            depth = self.queue.depth()
        except IntakeError:
            return False
        metrics.set_queue_depth(depth.visible, depth.in_flight, depth.dead)
        return depth.pending == 0 and (self.idle_check is None or self.idle_check())

    def _recovered(self) -> bool:
        try:
            self.processor.probe()
        except Exception as exc:
            log.info("still unavailable (%s): %s", self._degraded, str(exc).splitlines()[0][:200])
            self._pause(self._degraded or ErrorCode.INTERNAL.value)
            return False
        log.info("%s: recovered", self._degraded)
        self._degraded = None
        self._infra_failures = 0
        return True

    def _pause(self, code: str) -> None:
        if code in INFRA_CODES:
            self._degraded = code
        self._infra_failures += 1
        pause = min(self.options.pause_max_s, self.options.backoff_base_s * 2 ** (self._infra_failures - 1))
        self._pause_until = time.monotonic() + pause
        log.warning("%s: pausing this worker for %.1f s", code, pause, extra={"code": code})

    def _backoff(self, receive_count: int) -> int:
        delay = min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** max(0, receive_count - 1))
        return max(0, round(delay * random.uniform(0.8, 1.2)))  # jitter: retries of one outage spread out

    def _handle_with_heartbeat(self, msg: Message) -> None:
        """Process in a helper thread while this one extends the visibility and watches the grace period."""
        if msg.sent_at:
            metrics.QUEUE_LAG.observe(max(0.0, time.time() - msg.sent_at))
        box: dict[str, Decision] = {}

        def work() -> None:
            box["decision"] = self.handle(msg)

        thread = threading.Thread(target=work, name=f"job-{msg.id[:8]}", daemon=True)
        metrics.BUSY.inc()
        thread.start()
        last_extend = time.monotonic()
        try:
            while thread.is_alive():
                thread.join(timeout=0.5)
                self.health.tick()
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline and thread.is_alive():
                    log.warning("grace period over: releasing message %s unfinished", msg.id)
                    self.queue.release(msg)
                    self.stats.results["abandoned"] += 1
                    metrics.MESSAGES.labels("abandoned").inc()
                    return  # the daemon thread dies with the process; its work is redone elsewhere, idempotently
                if now - last_extend >= self.heartbeat_s:
                    self.queue.extend(msg, self.visibility_s)
                    last_extend = now
        finally:
            metrics.BUSY.dec()
        decision = box.get("decision") or Decision("release", code=ErrorCode.INTERNAL.value, reason="no decision")
        self._apply(msg, decision)

    def _apply(self, msg: Message, decision: Decision) -> None:
        self.stats.messages += 1
        for outcome in decision.outcomes:
            self.stats.outcomes[outcome.status] += 1
        try:
            if decision.action == "ack":
                self.queue.ack(msg)
            elif decision.action == "dead":
                if not self.queue.dead_letter(msg, decision.code or "", decision.reason):
                    log.error("no dead-letter queue configured: dropping message %s (%s)", msg.id, decision.reason)
                    self.queue.ack(msg)
            else:
                self.queue.release(msg, decision.delay_s)
        except IntakeError as exc:
            # the queue itself is unreachable: the message reappears after its timeout; processing is idempotent
            log.warning("could not %s message %s: %s", decision.action, msg.id, exc)
            self._pause(exc.code.value)
        self.stats.results[decision.action] += 1
        metrics.MESSAGES.labels(decision.action).inc()

    # ------------------------------------------------------------------ one message

    def handle(self, msg: Message) -> Decision:
        parsed = parse_body(msg.body, message_id=msg.id)
        if parsed.test_event:
            return Decision("ack", reason="s3:TestEvent")
        if parsed.newer_version is not None:
            # written by a newer release: leave it for a worker that understands it
            return Decision(
                "release", delay_s=60, code=ErrorCode.BAD_MESSAGE.value, reason=f"envelope v{parsed.newer_version}"
            )
        if parsed.error:
            log.error("message %s: %s", msg.id, parsed.error, extra={"code": ErrorCode.BAD_MESSAGE.value})
            metrics.ERRORS.labels(ErrorCode.BAD_MESSAGE.value).inc()
            return Decision("dead", code=ErrorCode.BAD_MESSAGE.value, reason=parsed.error)
        outcomes: list[Outcome] = []
        for item in parsed.items:
            try:
                outcomes.append(self.processor.process(item, attempts=msg.receive_count))
            except UntrustedMessage as exc:
                return self._refuse(msg, item, exc, outcomes)
            except Exception as exc:
                code, reason = classify_exception(exc)
                if code == ErrorCode.INTERNAL.value:
                    log.exception("bug while processing %s", item.display, extra={"code": code})
                else:
                    log.warning("transient error on %s: [%s] %s", item.display, code, reason, extra={"code": code})
                if code in INFRA_CODES:
                    self._pause(code)
                    self.processor.record_transient(item, code, reason, dead=False)
                    return Decision("release", delay_s=self._backoff(1), code=code, reason=reason, outcomes=outcomes)
                if msg.receive_count >= self.settings.max_receive_count:
                    self.processor.record_transient(item, code, reason, dead=True)
                    return Decision("dead", code=code, reason=reason, outcomes=outcomes)
                self.processor.record_transient(item, code, reason, dead=False)
                return Decision(
                    "release", delay_s=self._backoff(msg.receive_count), code=code, reason=reason, outcomes=outcomes
                )
        self._infra_failures = 0
        return Decision("ack", outcomes=outcomes)

    def _refuse(self, msg: Message, item: WorkItem, exc: UntrustedMessage, outcomes: list[Outcome]) -> Decision:
        """A message naming what must not be read: dead-lettered at once, never retried. Only a file inside the
        inbox (a FIFO, a folder, a symlink there) is recorded against its submission; a path or bucket from
        outside names no submission of ours."""
        code = ErrorCode.BAD_MESSAGE.value
        log.error("message %s refused: %s", msg.id, exc.message, extra={"code": code})
        metrics.ERRORS.labels(code).inc()
        try:
            self.processor.check(item)
            self.processor.record_transient(item, code, exc.message, dead=True)
        except UntrustedMessage:
            pass
        return Decision("dead", code=code, reason=exc.message, outcomes=outcomes)


# ------------------------------------------------------------------------------------------- inbox


def settle_inbox(watcher: InboxWatcher, stop: threading.Event, interval_s: float = 0.25) -> int:
    """Scan until every file in the inbox has been taken (drain mode starts from a settled inbox)."""
    taken = watcher.scan()
    while not stop.is_set() and watcher.pending:
        stop.wait(interval_s)
        taken += watcher.scan()
    return taken


# ------------------------------------------------------------------------------------------- supervisor


def child_command(options: WorkerOptions, inbox: Path | None, index: int) -> list[str]:
    cmd = [sys.executable, "-m", "worker.intake", "worker", "--concurrency", "1", "--no-watch"]
    cmd += ["--wait", str(options.wait_s), "--worker-index", str(index)]
    if options.grace_s is not None:
        cmd += ["--grace", str(options.grace_s)]
    if options.drain:
        cmd.append("--drain")
    if inbox is not None:
        cmd += ["--inbox", str(inbox)]
    if options.key_prefix:
        cmd += ["--key-prefix", options.key_prefix]
    return cmd


def run_supervisor(
    settings: Settings,
    *,
    concurrency: int,
    options: WorkerOptions,
    inbox: Path | None = None,
    metrics_port: int | None = None,
) -> int:
    """N worker processes (each single-threaded Tesseract), the inbox watcher, and the metrics port.
    A worker that dies unexpectedly is restarted; SIGTERM is forwarded and waited for (grace + 10 s)."""
    stop = threading.Event()
    grace = options.grace_s if options.grace_s is not None else settings.shutdown_grace_s

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)  # a second signal: children exit at once
            return
        log.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(procs))
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    prom_dir = None
    health = metrics.Health(stale_after_s=max(120.0, options.wait_s * 3))
    if metrics_port is not None:
        prom_dir = tempfile.mkdtemp(prefix="intake-prom-")
        env["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
        metrics.serve(metrics_port, health, registry=metrics.multiprocess_registry(prom_dir))

    queue = make_queue(settings)
    watcher = None
    if not settings.bucket:
        watcher = InboxWatcher(
            inbox or settings.resolved_inbox_dir,
            archive_dir(settings),
            lambda body, key: queue.send(body, dedup_key=key),
            settle_s=options.settle_s,
        )
        if options.drain:
            settle_inbox(watcher, stop)

    procs: dict[int, subprocess.Popen[bytes]] = {}
    finished: set[int] = set()
    restarts: Counter[int] = Counter()

    def spawn(index: int) -> None:
        procs[index] = subprocess.Popen(child_command(options, inbox, index), env=env)
        log.info("worker %d started (pid %d)", index, procs[index].pid)

    for index in range(concurrency):
        spawn(index)
    health.alive_check = lambda: all(p.poll() is None for i, p in procs.items() if i not in finished)
    try:
        while not stop.is_set():
            health.tick()
            if watcher is not None:
                try:
                    watcher.scan()
                except Exception:
                    log.exception("inbox scan failed")
            _restart_exited(procs, finished, restarts, drain=options.drain, spawn=spawn)
            if len(finished) == concurrency:
                break
            stop.wait(0.5)
    finally:
        exit_code = _stop_children(procs, grace)
    return exit_code


def _restart_exited(
    procs: dict[int, subprocess.Popen[bytes]],
    finished: set[int],
    restarts: Counter[int],
    *,
    drain: bool,
    spawn: Callable[[int], None],
) -> None:
    """Restart each worker that exited (with a growing pause), except one that drained its queue."""
    for index, proc in list(procs.items()):
        rc = proc.poll()
        if rc is None or index in finished:
            continue
        metrics.mark_process_dead(proc.pid)
        if rc == 0 and drain:
            finished.add(index)
            continue
        restarts[index] += 1
        log.error("worker %d (pid %d) exited with %s; restarting", index, proc.pid, rc)
        time.sleep(min(30.0, 0.5 * 2 ** min(restarts[index], 6)))
        spawn(index)


def _stop_children(procs: dict[int, subprocess.Popen[bytes]], grace: float) -> int:
    """SIGTERM every worker and wait up to the grace period (+10 s) for them; 1 if one had to be killed."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 10
    exit_code = 0
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker pid %d did not stop within the grace period; killing it", proc.pid)
            proc.kill()
            proc.wait()
            exit_code = 1
    return exit_code
