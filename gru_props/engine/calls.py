"""Calling a user's function under control: a time limit that holds anywhere, and a budget.

Every call of the user's function runs in a worker thread owned by the
check, while the checking thread waits on an event with a time limit. That
holds in any thread (a pytest-xdist worker, a ``ThreadPoolExecutor``, a
``threading.Thread``), needs no signal, so it never disarms an outer
``ITIMER_REAL`` or pytest-timeout (both its methods still work), and a
function that swallows exceptions with a bare ``except:`` cannot swallow the
time limit: the checking thread stops waiting whatever the function does.

What is left running: when a call overruns, the check tries to stop it by
raising an exception inside the worker thread (``PyThreadState_SetAsyncExc``),
repeatedly for up to ten seconds. That stops pure-Python loops at once. A
call blocked inside C code (one huge matrix product, ``time.sleep``) stops
when that C call returns; a call that catches and ignores every exception
keeps running in its daemon thread until the process exits. The check itself
has already moved on, so none of this can hang it.

The worker also isolates the call: NumPy's error state is reset to NumPy's
defaults around each call (a global ``np.seterr(all="raise")`` does not turn
a harmless overflow into a crash, and an ``np.seterr`` inside the function
does not leak out), warnings are recorded rather than printed, standard
input reads as empty (``input()`` raises EOFError instead of blocking),
``SystemExit`` becomes an ordinary finding, and ``os._exit`` called from the
function is intercepted (in the worker thread only: pytest-timeout's own
``os._exit`` in its timer thread is untouched).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import os
import queue
import signal
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

_NUMPY_DEFAULT_ERRSTATE: Dict[str, Any] = dict(divide="warn", over="warn", under="ignore", invalid="warn")


class Hang(BaseException):
    """The user's function did not return within the time limit.

    A BaseException, so that neither Hypothesis' failure handling nor the
    user's ``except Exception`` swallows it on its way out of a search.
    ``stopped`` says whether the overrunning call could be interrupted.
    """

    def __init__(self, seconds: float, stopped: bool) -> None:
        super().__init__(f"no return within {seconds:g} s")
        self.seconds = seconds
        self.stopped = stopped
        self.case: Any = None
        self.what: Optional[str] = None  # which function hung, when not the one checked


class BudgetExhausted(BaseException):
    """The whole check's time budget (``max_seconds``) ran out."""


class Interrupted(BaseException):
    """Something outside the function (a signal handler, Ctrl-C) raised while a call was waited for.

    Carried as a BaseException through Hypothesis, which would otherwise take
    an outer timer's exception for a flaky failure; the check re-raises
    ``original`` once it is out of the search.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class _OuterHandler:
    """A signal handler of the caller's, wrapped: whatever it raises leaves as ``Interrupted``."""

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler

    def __call__(self, signum: int, frame: Any) -> Any:
        try:
            return self.handler(signum, frame)
        except Interrupted:
            raise
        except BaseException as exc:
            # Also kept aside: a handler can run where exceptions are swallowed (a gc
            # callback inside Hypothesis), and the check must still stop.
            _PENDING[:] = [exc]
            raise Interrupted(exc) from exc


_PENDING: List[BaseException] = []


def raise_pending_interruption() -> None:
    """Raise ``Interrupted`` for an outer handler's exception that was swallowed on its way out."""
    if _PENDING:
        raise Interrupted(_PENDING.pop())


def interruption_in(exc: BaseException) -> Optional[BaseException]:
    """``exc`` or the first of its causes and contexts that is ours to carry out of Hypothesis.

    When an ``Interrupted``, ``Hang`` or ``BudgetExhausted`` passes through
    Hypothesis mid-draw, Hypothesis' own clean-up can raise a second
    exception (an inconsistent-data-generation error, an IndexError) with
    ours as its context; the check must act on ours.
    """
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (Interrupted, Hang, BudgetExhausted)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def outer_signals_interrupt() -> Iterator[None]:
    """For the duration of a check, exceptions raised by Python signal handlers become ``Interrupted``.

    A handler's exception (an ``ITIMER_REAL`` alarm of the caller's, say) can
    fire anywhere, also inside Hypothesis' own code between our guards, where
    Hypothesis would take an ``Exception`` for a failing example and then
    report a flaky test or an inconsistent strategy instead of letting it
    out. ``Interrupted`` is a ``BaseException``, which Hypothesis lets
    through; the check re-raises the original once it is out. Handlers are
    only wrapped from the main thread (the only one Python runs them in, and
    the only one allowed to set them) and are put back afterwards unless
    something else replaced them meanwhile.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _PENDING.clear()
    wrapped = {}
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (ValueError, OSError):  # pragma: no cover - a signal Python cannot query
            continue
        if callable(handler) and handler not in (signal.default_int_handler,) and \
                not isinstance(handler, _OuterHandler):
            try:
                signal.signal(signum, _OuterHandler(handler))
            except (ValueError, OSError, RuntimeError):  # pragma: no cover - a signal Python cannot set
                continue
            wrapped[signum] = handler
    try:
        yield
    except BaseException:
        _PENDING.clear()  # already on its way out
        raise
    else:
        raise_pending_interruption()
    finally:
        for signum, handler in wrapped.items():
            current = signal.getsignal(signum)
            if isinstance(current, _OuterHandler) and current.handler is handler:
                signal.signal(signum, handler)


class _Stop(BaseException):
    """Raised inside a worker thread to interrupt an overrunning call."""


class _ExitCalled(BaseException):
    """``os._exit`` was called by the function under test (in its worker thread)."""

    def __init__(self, code: Any) -> None:
        super().__init__(code)
        self.code = code


@dataclasses.dataclass
class CallResult:
    """What one call produced: a ``value``, or an ``error`` text for the report."""

    value: Any = None
    error: Optional[str] = None
    exception: Optional[BaseException] = None
    warnings: Tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def wrote_read_only(self) -> bool:
        """The call failed by writing into a read-only array it was given."""
        exc = self.exception
        return isinstance(exc, ValueError) and ("read-only" in str(exc) or "WRITEABLE" in str(exc))


# ------------------------------------------------------------ os._exit guard
_guard_lock = threading.Lock()
_guard_users = 0
_original_exit = os._exit


_guard_pid = os.getpid()


def _guarded_exit(code: int = 0) -> None:  # pragma: no cover - only reached from user code
    # Only the checking process is guarded: a child the function forked (os.fork, multiprocessing) must
    # be able to end, or it runs on forever and its parent waits for it.
    if os.getpid() == _guard_pid and isinstance(threading.current_thread(), _Worker):
        raise _ExitCalled(code)
    _original_exit(code)


def _install_exit_guard() -> None:
    global _guard_users, _guard_pid
    with _guard_lock:
        _guard_users += 1
        _guard_pid = os.getpid()
        if os._exit is not _guarded_exit:
            os._exit = _guarded_exit  # type: ignore[assignment]


def _remove_exit_guard() -> None:
    global _guard_users
    with _guard_lock:
        _guard_users -= 1
        if _guard_users == 0 and os._exit is _guarded_exit:
            os._exit = _original_exit


# ------------------------------------------------------------------ stdin
class _NoInput(io.TextIOBase):
    """Standard input during a check: reading it ends at once (input() raises EOFError).

    A checked function that waits for input would block its worker forever, and
    under ``pytest -s`` an abandoned thread inside the real stdin's buffer makes
    the interpreter abort at exit ("Fatal Python error: _enter_buffered_busy").
    """

    def readable(self) -> bool:
        return True

    def read(self, size: Optional[int] = -1) -> str:
        return ""

    def readline(self, size: Optional[int] = -1) -> str:  # type: ignore[override]
        return ""

    def isatty(self) -> bool:
        return False


_input_users = 0
_saved_stdin: Any = None


def _install_no_input() -> None:
    global _input_users, _saved_stdin
    with _guard_lock:
        if _input_users == 0:
            _saved_stdin, sys.stdin = sys.stdin, _NoInput()
        _input_users += 1


def _remove_no_input() -> None:
    global _input_users, _saved_stdin
    with _guard_lock:
        _input_users -= 1
        if _input_users == 0:
            if isinstance(sys.stdin, _NoInput):
                sys.stdin = _saved_stdin
            _saved_stdin = None


# ------------------------------------------------------------------- worker
class _Job:
    __slots__ = ("fn", "args", "done", "value", "exc", "abandoned", "seconds")

    def __init__(self, fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.done = threading.Event()
        self.value: Any = None
        self.exc: Optional[BaseException] = None
        self.abandoned = False
        self.seconds = 0.0

    def run(self) -> None:
        start = time.perf_counter()
        pid = os.getpid()
        try:
            with np.errstate(**_NUMPY_DEFAULT_ERRSTATE):
                self.value = self.fn(*self.args)
        except BaseException as exc:  # everything the function does is a finding, nothing escapes
            self.exc = exc
        finally:
            if os.getpid() != pid:
                # A child the function forked has come back into the checker instead of ending: it is a
                # copy of the check, with nobody waiting for it. End it, or it holds pipes open forever.
                _original_exit(0)
            self.seconds = time.perf_counter() - start
            self.done.set()


class _Worker(threading.Thread):
    """A daemon thread that runs one job at a time for one check."""

    def __init__(self) -> None:
        super().__init__(name="gru_props-call", daemon=True)
        self.jobs: "queue.SimpleQueue[Optional[_Job]]" = queue.SimpleQueue()
        self.current: Optional[_Job] = None

    def run(self) -> None:
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    return
                self.current = job
                job.run()
                self.current = None
                if job.abandoned:
                    return
        except _Stop:  # an interruption that arrived between jobs
            return

    def interrupt(self) -> bool:
        """Raise ``_Stop`` inside this thread; True if the thread was found."""
        ident = self.ident
        if ident is None or not self.is_alive():
            return False
        n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Stop))
        return n == 1


def _reap(worker: _Worker, job: _Job, until: float) -> None:
    """Keep interrupting an abandoned job until it ends or ``until`` passes."""
    while not job.done.is_set() and time.monotonic() < until:
        worker.interrupt()
        job.done.wait(0.05)


# ------------------------------------------------------------------ caller
class Caller:
    """Runs calls of user functions with a per-call time limit and an overall deadline.

    ``timeout``: seconds one call may take (None: no limit). ``deadline``: a
    ``time.monotonic()`` value after which no call may run (None: none).
    Use as a context manager, or call ``close()``.
    """

    def __init__(self, timeout: Optional[float], deadline: Optional[float] = None) -> None:
        self.timeout = timeout
        self.deadline = deadline
        self.calls = 0
        self.seconds = 0.0
        self._worker: Optional[_Worker] = None
        self.abandoned: List[str] = []
        _install_exit_guard()
        _install_no_input()
        self._closed = False

    def __enter__(self) -> "Caller":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._worker is not None and self._worker.current is None:
            self._worker.jobs.put(None)
        self._worker = None
        _remove_exit_guard()
        _remove_no_input()

    def remaining(self) -> Optional[float]:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def call(self, fn: Callable[..., Any], *args: Any) -> CallResult:
        """Call ``fn(*args)`` in the worker; raises ``Hang`` or ``BudgetExhausted``."""
        return self.call_limited(self.timeout, fn, *args)

    def call_limited(self, limit: Optional[float], fn: Callable[..., Any], *args: Any) -> CallResult:
        """``call`` with its own time limit (e.g. for a job made of many calls of the user's function)."""
        remaining = self.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise BudgetExhausted()
            budget_bound = limit is None or remaining < limit
            limit = remaining if limit is None else min(limit, remaining)
        else:
            budget_bound = False
        if self._worker is None or not self._worker.is_alive():
            self._worker = _Worker()
            self._worker.start()
        worker = self._worker
        job = _Job(fn, args)
        self.calls += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            worker.jobs.put(job)
            try:
                finished = job.done.wait(limit)
            except BaseException as exc:  # an outer signal handler or Ctrl-C: not the function's doing
                job.abandoned = True
                self._worker = None
                worker.interrupt()
                if isinstance(exc, Interrupted):  # already wrapped by outer_signals_interrupt
                    raise
                raise Interrupted(exc) from exc
        if not finished:
            job.abandoned = True
            self._worker = None
            stopped = job.done.wait(0) or (worker.interrupt() and job.done.wait(0.2))
            if not stopped:
                threading.Thread(target=_reap, args=(worker, job, time.monotonic() + 10.0),
                                 name="gru_props-reaper", daemon=True).start()
                self.abandoned.append(getattr(fn, "__qualname__", repr(fn)))
            if budget_bound:
                raise BudgetExhausted()
            assert limit is not None  # with no limit, wait() returns only when the call has ended
            raise Hang(float(limit), bool(stopped))
        self.seconds += job.seconds
        texts = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        if job.exc is not None:
            return CallResult(error=describe_exception(job.exc), exception=job.exc, warnings=texts,
                              seconds=job.seconds)
        return CallResult(value=job.value, warnings=texts, seconds=job.seconds)


# ------------------------------------------------------- where it happened
#: The gru_props package (this module is in gru_props/engine/): its frames are never the user's.
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _library_dirs() -> Tuple[str, ...]:
    dirs = {_OWN_DIR}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    for path in sys.path:
        if path and ("site-packages" in path or "dist-packages" in path):
            dirs.add(os.path.abspath(path))
    return tuple(sorted(dirs, key=len, reverse=True))


_LIBRARY_DIRS = _library_dirs()
def _is_library(filename: str) -> bool:
    if filename.startswith("<"):
        return True
    path = os.path.abspath(filename)
    return any(path == d or path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _short(filename: str) -> str:
    path = os.path.abspath(filename)
    for d in _LIBRARY_DIRS:
        if path.startswith(d + os.sep):
            return os.path.relpath(path, d)
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return rel if not rel.startswith("..") else path


def user_frame(exc: BaseException) -> Optional[traceback.FrameSummary]:
    """The innermost frame of the traceback that is the user's code (not a library's, not ours)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not _is_library(frame.filename):
            return frame
    for frame in reversed(frames):  # user code installed as a package: anything but gru_props
        if not os.path.abspath(frame.filename).startswith(_OWN_DIR + os.sep):
            return frame
    return None


def describe_exception(exc: BaseException) -> str:
    """"raised ValueError: ... at my_gru.py:12 in forward: <source line>" (plus the library frame)."""
    if isinstance(exc, _ExitCalled):
        head = f"called os._exit({exc.code!r}), which would have ended the whole process"
    elif isinstance(exc, SystemExit):
        head = f"called sys.exit({exc.code!r}) (raised SystemExit), which would have ended the process"
    elif isinstance(exc, _Stop):
        head = "was interrupted after overrunning its time limit"
    else:
        text = str(exc)
        head = f"raised {type(exc).__name__}" + (f": {text}" if text else "")
    frame = user_frame(exc)
    if frame is None:
        return head
    where = f"\n  at {_short(frame.filename)}:{frame.lineno}, in {frame.name}"
    if frame.line:
        where += f": {frame.line.strip()}"
    inner = traceback.extract_tb(exc.__traceback__)[-1]
    if (inner.filename, inner.lineno) != (frame.filename, frame.lineno) and _is_library(inner.filename) \
            and not os.path.abspath(inner.filename).startswith(_OWN_DIR + os.sep):
        where += f"\n  (the error itself was raised inside {_short(inner.filename)}:{inner.lineno})"
    return head + where
