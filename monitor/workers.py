"""Worker processes for CPU-heavy stages (extract, parse, match), killed at a deadline.

trafilatura has no timeout and its time grows faster than page size, and a process pool
from concurrent.futures cannot cancel a running task: so each worker here is our own
process on a pipe, and a job that overruns has its process killed and replaced. Each worker
holds the rule set compiled once (sent again only when the rules change), so that a feed
read without articles is parsed and matched in one job. I/O edge: imports `extract`, `parse`
and `query` (run inside the workers), `models` and `errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

from monitor.errors import ExtractError, MonitorError, ParseError
from monitor.extract import MAX_BYTES, extract_article
from monitor.heap import settle_heap
from monitor.models import Article, Match, ParsedFeed, RuleSpec, entry_document, feed_label
from monitor.parse import parse_feed
from monitor.query import RuleSet, compile_rules

T = TypeVar("T")

START_TIMEOUT = 60.0  # seconds a new worker may take to import its modules
WORKER_NICENESS = 5  # below the poller: its event loop answers sockets and timers
RULES_TIMEOUT = 600.0  # seconds a worker may take to compile the rule set (100,000 rules: ~10)
_STOP_GRACE = 1.0  # seconds an idle worker gets to exit on its own at close()
_ERRORS: dict[str, type[MonitorError]] = {"ExtractError": ExtractError, "ParseError": ParseError}


def default_processes() -> int:
    """The cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


class RemoteError(Exception):
    """A bug inside a worker job: carries the worker's traceback as text."""


class ExtractorPool:
    """Runs extraction and large parses in `processes` worker processes, off the event loop.

    Workers start on first use, or all at once with `start()`. Each job has `deadline` seconds
    of worker time; a worker that overruns (or dies) is killed, the job raises ExtractError
    (ParseError for parses) and the next job starts a fresh worker. A worker retires after
    `max_jobs` extraction jobs (lxml's memory; a parse does not count: respawning costs a
    second of imports). Usable as a context manager, sync or async.
    """

    def __init__(
        self,
        processes: int | None = None,
        *,
        deadline: float = 20.0,
        max_bytes: int = MAX_BYTES,
        max_jobs: int = 1000,
        start_method: str = "spawn",
    ) -> None:
        self.processes = processes or default_processes()
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_jobs = max_jobs  # a worker is replaced after so many jobs (lxml memory)
        # spawn: a clean interpreter per worker, no forked locks or threads, nothing left
        # behind by close() (forkserver would keep its server process).
        self._context = multiprocessing.get_context(start_method)
        self._threads = ThreadPoolExecutor(self.processes, thread_name_prefix="extractor")
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = False
        self._rules: tuple[int, tuple[RuleSpec, ...] | None] = (0, None)  # version, specs

    def set_rules(self, specs: Sequence[RuleSpec] | None) -> None:
        """The rules `parse_and_match` uses; each worker compiles them before its next job."""
        with self._lock:
            self._rules = (self._rules[0] + 1, None if specs is None else tuple(specs))

    async def start(self) -> None:
        """Start every worker now and bring its rules up to date, rather than at the first
        jobs: a daemon's first cycle then parses at once, and a worker that cannot start
        fails the start-up, not a feed."""
        await asyncio.gather(
            *(self.run(sleep_then_return, 0.0, None) for _ in range(self.processes))
        )

    async def extract(self, html: bytes, url: str | None) -> Article:
        """`extract_article` in a worker; ExtractError on timeout, death or an empty page."""
        return await self.run(extract_article, html[: self.max_bytes], url=url)

    async def parse(self, body: bytes, **kwargs: Any) -> ParsedFeed:
        """`parse_feed` in a worker; ParseError (subject=feed_name) on timeout or death."""
        subject = kwargs.get("feed_name")
        return await self._submit(
            parse_feed, (body,), kwargs, error=ParseError, subject=subject, deadline=None, wear=0
        )

    async def parse_and_match(
        self, body: bytes, *, label_url: str, feed_tags: tuple[str, ...], **kwargs: Any
    ) -> tuple[ParsedFeed, dict[str, tuple[Match, ...]]]:
        """`parse_feed`, then every entry matched as read without its article, in one job."""
        subject = kwargs.get("feed_name")
        kwargs.update(label_url=label_url, feed_tags=feed_tags)
        return await self._submit(
            _parse_and_match,
            (body,),
            kwargs,
            error=ParseError,
            subject=subject,
            deadline=None,
            wear=0,
        )

    async def run(
        self, func: Callable[..., T], /, *args: Any, deadline: float | None = None, **kwargs: Any
    ) -> T:
        """Call a module-level `func` in a worker; ExtractError when it overruns or dies."""
        subject = kwargs.get("url") if isinstance(kwargs.get("url"), str) else None
        return await self._submit(
            func, args, kwargs, error=ExtractError, subject=subject, deadline=deadline
        )

    async def _submit(
        self,
        func: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        error: type[MonitorError],
        subject: str | None,
        deadline: float | None,
        wear: int = 1,
    ) -> T:
        if self._closed:
            raise error("the worker pool is closed", subject=subject)
        job = (func, args, kwargs)
        limit = self.deadline if deadline is None else deadline
        loop = asyncio.get_running_loop()
        try:
            # A cancelled caller leaves the thread to finish or kill the job, freeing the worker.
            reply = await loop.run_in_executor(
                self._threads, self._call, job, limit, error, subject, wear
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.closed and task is not None and not task.cancelling():
                raise error("the worker pool is closed", subject=subject) from None
            raise  # the caller itself was cancelled
        result: T = reply
        return result

    def _call(
        self,
        job: tuple[Any, ...],
        limit: float,
        error: type[MonitorError],
        subject: str | None,
        wear: int,
    ) -> Any:
        """Run one job on a checked-out worker (executor thread): at most `processes` at once."""
        worker = self._checkout(error, subject)
        try:
            if not self._send_rules(worker):
                self._discard(worker)
                raise error(
                    f"worker killed: compiling the rules took over {RULES_TIMEOUT:g} s",
                    subject=subject,
                )
            worker.conn.send(job)
            if not worker.conn.poll(limit):
                self._discard(worker)
                raise error(f"worker killed after the {limit:g} s deadline", subject=subject)
            reply = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._discard(worker)
            why = "the pool was closed" if self._closed else f"worker died (exit {worker.exitcode})"
            raise error(why, subject=subject) from exc
        except BaseException:
            self._discard(worker)
            raise
        self._checkin(worker, wear)
        return _unpack(reply, error, subject)

    def _send_rules(self, worker: _Worker) -> bool:
        """Bring the worker's compiled rules up to date (after a spawn or a reload); False
        when it overran RULES_TIMEOUT."""
        version, specs = self._rules
        if worker.rules == version:
            return True
        worker.conn.send((_load_rules, (specs,), {}))
        if not worker.conn.poll(RULES_TIMEOUT):
            return False
        _unpack(worker.conn.recv(), ExtractError, None)
        worker.rules = version
        return True

    def _checkout(self, error: type[MonitorError], subject: str | None) -> _Worker:
        with self._lock:
            if self._closed:
                raise error("the worker pool is closed", subject=subject)
            if self._idle:
                return self._idle.pop()
            worker = _Worker.spawn(self._context)
            self._all.add(worker)  # from now on close() can kill it, even while it starts
        try:
            worker.wait_ready()
        except BaseException as exc:
            self._discard(worker)
            if self._closed:
                raise error("the worker pool is closed", subject=subject) from None
            if isinstance(exc, RuntimeError):  # the environment (memory, process limits)
                raise error(str(exc), subject=subject) from exc
            raise
        return worker

    def _checkin(self, worker: _Worker, wear: int) -> None:
        worker.jobs += wear
        with self._lock:
            if not self._closed and worker.jobs < self.max_jobs:
                self._idle.append(worker)
                return
            self._all.discard(worker)
        worker.stop()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> int:
        """How many workers are running (or starting for) a job right now."""
        with self._lock:
            return len(self._all) - len(self._idle)

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the workers started and not yet reaped (for status and tests)."""
        with self._lock:
            return tuple(w.pid for w in self._all)

    def close(self) -> None:
        """Stop every worker (idle ones exit, busy ones are killed) and wait for them all."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), self._all - set(self._idle)
            self._idle.clear()
            self._all.clear()
        for worker in busy:
            worker.interrupt()  # its thread sees EOF, reaps it and fails its job
        for worker in idle:
            worker.stop()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ExtractorPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> ExtractorPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.pid = process.pid or 0
        self.exitcode: int | None = None
        self.jobs = 0
        self.rules = 0  # the version of the rule set compiled in the worker
        self._lock = threading.Lock()
        self._released = False

    @classmethod
    def spawn(cls, context: Any) -> _Worker:
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child,), name="news-monitor-extractor")
        process.daemon = True
        process.start()
        child.close()  # so that the worker's death reads as EOF here
        return cls(process, parent)

    def wait_ready(self) -> None:
        """Wait for the worker's imports, so that they do not count against a job's deadline."""
        try:
            ready = self.conn.poll(START_TIMEOUT) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            raise RuntimeError(f"extraction worker failed to start ({self.process.name})")

    def stop(self) -> None:
        """Ask an idle worker to exit; kill it if it has not within the grace period."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(_STOP_GRACE)
        self.kill()

    def interrupt(self) -> None:
        """Kill the process but leave the pipe to the thread that waits on it."""
        with self._lock:
            if not self._released and self.process.is_alive():
                self.process.kill()

    def kill(self) -> None:
        """Kill (if alive), reap and release everything; safe to call more than once."""
        with self._lock:
            if self._released:
                return
            self._released = True
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
            self.exitcode = self.process.exitcode
            self.conn.close()
            # Starting another worker reaps finished children from its own thread; when it
            # wins the race, this Process never learns its exit status and refuses close().
            # The process is gone either way: nothing is left to release but the object.
            with contextlib.suppress(ValueError):
                self.process.close()


def _serve(conn: Connection) -> None:
    """Worker main loop: (func, args, kwargs) in, ('ok', result) or an error out; None stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.suppress(OSError):  # the event loop, not a parse, gets a busy core first
        os.nice(WORKER_NICENESS)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent is gone
            return
        if job is None:
            return
        func, args, kwargs = job
        try:
            reply: tuple[Any, ...] = ("ok", func(*args, **kwargs))
        except MonitorError as exc:
            kind = getattr(exc, "kind", None)  # e.g. ParseError "not-a-feed" vs "parse"
            reply = ("error", type(exc).__name__, exc.message, exc.subject, _cause(exc), kind)
        except Exception:  # a bug: the parent re-raises it with this traceback
            reply = ("bug", traceback.format_exc())
        try:
            conn.send(reply)
        except OSError:  # the parent is gone
            return
        except Exception:  # the result would not pickle (nothing was sent yet)
            conn.send(("bug", traceback.format_exc()))


def _cause(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return f"{type(cause).__name__}: {cause}" if cause is not None else None


def _unpack(reply: tuple[Any, ...], error: type[MonitorError], subject: str | None) -> Any:
    kind = reply[0]
    if kind == "ok":
        return reply[1]
    if kind == "error":
        _, name, message, remote_subject, cause, kind = reply
        cls = _ERRORS.get(name, error)
        raised = cls(message, subject=remote_subject)
        if kind is not None and isinstance(raised, ParseError):
            raised.kind = kind
        if cause:
            raise raised from RemoteError(cause)
        raise raised
    raise RemoteError(f"worker job failed:\n{reply[1]}")


# --- inside a worker ----------------------------------------------------------------------

_RULES: RuleSet | None = None  # this worker's compiled rules


def _load_rules(specs: Sequence[RuleSpec] | None) -> None:
    global _RULES  # noqa: PLW0603 - a worker process holds one rule set
    _RULES = None if specs is None else compile_rules(specs)
    if _RULES is not None:
        settle_heap()  # the rules live as long as the worker or until the next reload


def _parse_and_match(
    body: bytes, *, label_url: str, feed_tags: tuple[str, ...], **kwargs: Any
) -> tuple[ParsedFeed, dict[str, tuple[Match, ...]]]:
    parsed = parse_feed(body, **kwargs)
    if _RULES is None:
        return parsed, {}
    name = kwargs["feed_name"]
    label = feed_label(name, parsed.title, label_url)
    matched = {}
    for entry in parsed.entries:
        doc = entry_document(entry, None, feed=label, feed_name=name, feed_tags=feed_tags)
        matched[entry.entry_id] = tuple(_RULES.match(doc))
    return parsed, matched


def sleep_then_return(seconds: float, value: T) -> T:
    """A job that takes `seconds`: lets tests and benchmarks exercise the deadline."""
    time.sleep(seconds)
    return value


__all__ = ["ExtractorPool", "RemoteError", "default_processes", "sleep_then_return"]
