"""Executors: where work runs — this process, a local pool of worker processes, or Dask distributed.

Three executors share one small interface (``submit(fn, *args)`` returning a
future, ``as_completed(futures)``, ``max_workers``, ``worthwhile(n_items,
pixels_each, seconds_each=None)``, ``close()``):

* :class:`SerialExecutor` runs everything at once in this process.
* :class:`LocalExecutor` is a pool of worker processes started with the
  ``forkserver`` method (``spawn`` where there is none): numba's OpenMP
  threading layer is not fork-safe, so workers never inherit a forked copy of a
  process that ran compiled kernels. The pool is created on first use and
  shared by every reduction of the process with the same number of jobs.
  ``reduce --jobs N`` gives the primitives declared ``per_file`` such a pool;
  a primitive goes to it for images of at least ``min_pixels`` pixels, unless
  it took less time a file the last time it ran than handing a file over
  costs (then it runs here: cheap steps would only get slower). When the step
  cache saves the step's inputs and results anyway, the hand-over writes are
  not extra work (``PrimitivesBASE._parallel_worthwhile``): the input is a
  checkpoint already and a worker writes its result where the checkpoint
  goes, so the hand-over then costs little more than reading the file, and
  only ``min_pixels`` decides.
* :class:`DaskExecutor` sends work to a Dask distributed scheduler
  (``reduce --cluster tcp://HOST:PORT``, ``Reduce(executor=DaskExecutor(...))``;
  ``pip install astroreduce[dask]``). ``--cluster local:N`` starts a
  ``LocalCluster`` of N worker processes for the run.

Independent reductions (``Reduce.group_by``) are sent to an executor as
plain dictionaries (:func:`run_reduction`): file paths, the recipe, the
parameters and the calibration databases. Workers open the files themselves;
no pixel travels through the scheduler. So every worker must see the same
files at the same paths (one machine, or a shared file system) and the same
calibration database: an SQLite file on that file system for a local
cluster, a PostgreSQL URL (``postgresql+psycopg://user@host/db`` in the
dragonsrc ``[calibs] databases`` line) for a real cluster, where many
workers store and look up calibrations at the same time.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gempy.utils import logutils
from primitives.base import LogCapture
from recipe_system.errors import ReduceError

__all__ = [
    "DEFAULT_MIN_PIXELS",
    "handover_seconds",
    "DaskExecutor",
    "LocalExecutor",
    "SerialExecutor",
    "default_jobs",
    "executor_for",
    "run_reduction",
]

log = logging.getLogger("recipe_system.executors")

#: Per-file work is sent to workers only for images of at least this many pixels
#: (smaller ones cost less to process than to hand over).
DEFAULT_MIN_PIXELS = 1_000_000

#: Loggers of the execution machinery, not shown with a reduction's log.
_FOREIGN_LOGGERS = ("distributed", "tornado", "asyncio", "bokeh", "concurrent")


def handover_seconds(pixels: int) -> float:
    """Rough time to hand an image to a worker and back: FITS write and read of data,
    variance and mask (about 10 bytes a pixel) at 150 MB/s, plus 50 ms."""
    return 0.05 + pixels * 10 / 150e6


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class SerialExecutor:
    """Run each task immediately in this process."""

    max_workers = 1

    def submit(self, fn: Callable, *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - kept in the future, like a pool
            future.set_exception(exc)
        return future

    @staticmethod
    def as_completed(futures: Iterable[Any]) -> Iterator[Any]:
        return iter(list(futures))

    def worthwhile(self, n_items: int, pixels_each: int,
                   seconds_each: float | None = None) -> bool:
        return False

    def close(self) -> None:
        return None


def _init_worker() -> None:
    # A worker never prints: its records are collected per task and shown by
    # the parent (primitives.base.LogCapture). A handler on the root logger
    # keeps logutils from installing a console of its own.
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


_POOLS: dict[tuple[int, str], concurrent.futures.ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _shutdown_pools() -> None:
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.shutdown(wait=False, cancel_futures=True)
        _POOLS.clear()


atexit.register(_shutdown_pools)


def _start_method(requested: str | None) -> str:
    available = multiprocessing.get_all_start_methods()
    if requested is not None:
        if requested not in ("spawn", "forkserver"):
            raise ReduceError(f"start method {requested!r}: use 'spawn' or 'forkserver' "
                              f"(numba's threading layer is not fork-safe)")
        if requested not in available:
            raise ReduceError(f"start method {requested!r} is not available here")
        return requested
    return "forkserver" if "forkserver" in available else "spawn"


_MISSING = object()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start processes without them running the main script again.

    A ``spawn``/``forkserver`` child normally imports the parent's main
    script (as ``__mp_main__``), which runs a script written without an
    ``if __name__ == "__main__":`` guard (a tutorial script calling
    ``Reduce().runr()``) a second time, in the child. The tasks sent to
    workers live in importable modules, so the children need no main module.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name, _MISSING) for name in ("__file__", "__spec__")}
    try:
        if saved["__file__"] is not _MISSING:
            del main.__file__
        if main is not None:
            main.__spec__ = None
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                if hasattr(main, name) and name == "__file__":
                    delattr(main, name)
            else:
                setattr(main, name, value)


def _preload_modules() -> list[str]:
    from recipe_system import registry

    modules = ["astrodata", "primitives.base"]
    try:
        modules.extend(sorted(set(registry.primitive_modules().values())))
    except Exception as exc:  # noqa: BLE001 - preloading is only an optimisation
        log.debug("no primitive modules to preload: %s", exc)
    return modules


class LocalExecutor:
    """A pool of `jobs` worker processes on this machine.

    Parameters
    ----------
    jobs : int, optional
        Number of worker processes (default: the number of cores).
    start_method : {'forkserver', 'spawn'}, optional
        How workers are started (default forkserver where available).
    min_pixels : int
        Smallest image (pixels of all extensions) worth sending to a worker.
    shared : bool
        Use the process-wide pool for these settings (created once, reused by
        later reductions) instead of a private one closed by :meth:`close`.
    main_works : bool
        The submitting process works too: the pool has ``jobs - 1`` workers
        and the caller runs the tasks no worker has taken yet
        (``PrimitivesBASE`` per-file steps do, see ``main_works``). ``jobs``
        processes then compute, and one process less holds its own copy of
        the interpreter, the libraries and a frame (~400 MB for a 2048x2048
        frame).
    """

    def __init__(self, jobs: int | None = None, start_method: str | None = None,
                 min_pixels: int = DEFAULT_MIN_PIXELS, shared: bool = True,
                 main_works: bool = False) -> None:
        self.max_workers = int(jobs) if jobs else default_jobs()
        if self.max_workers < 1:
            raise ReduceError(f"jobs={jobs}: at least one worker is needed")
        self.start_method = _start_method(start_method)
        self.min_pixels = int(min_pixels)
        self.shared = shared
        self.main_works = bool(main_works) and self.max_workers > 1
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"LocalExecutor(jobs={self.max_workers}, start_method={self.start_method!r})"

    @property
    def pool_size(self) -> int:
        """Worker processes of the pool (``jobs``, or ``jobs - 1`` when the caller works too)."""
        return self.max_workers - 1 if self.main_works else self.max_workers

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        key = (self.pool_size, self.start_method)
        with _POOLS_LOCK:
            pool = _POOLS.get(key) if self.shared else None
            if pool is None:
                context = multiprocessing.get_context(self.start_method)
                if self.start_method == "forkserver":
                    # imported once by the server, not by every worker (importing
                    # compiles nothing and starts no thread: fork-safe)
                    context.set_forkserver_preload(_preload_modules())
                pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.pool_size, mp_context=context,
                    initializer=_init_worker)
                if self.shared:
                    _POOLS[key] = pool
        self._pool = pool
        return pool

    def submit(self, fn: Callable, *args: Any) -> concurrent.futures.Future:
        # workers are started on demand, by submit
        with _main_module_hidden():
            try:
                return self._get_pool().submit(fn, *args)
            except (concurrent.futures.process.BrokenProcessPool, RuntimeError):
                # a broken pool, or one whose workers were released (shut down)
                self._discard()
                return self._get_pool().submit(fn, *args)

    def release_idle_workers(self) -> None:
        """Stop the workers while no per-file step needs them.

        An idle worker keeps ~200 MB (interpreter, libraries, heap); between
        per-file steps that is memory the main process needs for the steps
        that hold every frame (sky subtraction, resampling, stacking). The next
        ``submit`` starts new workers, forked from the fork server in a
        fraction of a second.
        """
        pool = self._pool
        if pool is None:
            return
        self._discard()
        pool.shutdown(wait=True)

    def _discard(self) -> None:
        with _POOLS_LOCK:
            key = (self.pool_size, self.start_method)
            if _POOLS.get(key) is self._pool:
                del _POOLS[key]
        self._pool = None

    @staticmethod
    def as_completed(futures: Iterable[Any]) -> Iterator[Any]:
        return concurrent.futures.as_completed(list(futures))

    def worthwhile(self, n_items: int, pixels_each: int,
                   seconds_each: float | None = None) -> bool:
        """Whether `n_items` images of `pixels_each` pixels gain from the workers.

        A file goes to a worker and comes back as a FITS file: worth it for
        images of at least ``min_pixels`` pixels whose processing took longer
        than that hand-over the last time (``seconds_each``; unknown the first
        time). ``min_pixels=0`` sends everything (tests, benchmarks).
        """
        if self.max_workers < 2 or n_items < 2:
            return False
        if self.min_pixels == 0:
            return True
        if pixels_each < self.min_pixels:
            return False
        return seconds_each is None or seconds_each >= handover_seconds(pixels_each)

    def close(self) -> None:
        """Shut a private pool down (a shared pool lives until the process exits)."""
        if self._pool is not None and not self.shared:
            self._pool.shutdown(wait=True)
        self._pool = None


class DaskExecutor:
    """Tasks on a Dask distributed cluster.

    Parameters
    ----------
    cluster : str or distributed.Client or cluster object
        A scheduler address (``tcp://HOST:PORT``), ``'local'`` or
        ``'local:N'`` (a ``LocalCluster`` of N single-threaded worker
        processes, closed with the executor), a ``Client``, or a cluster
        (``LocalCluster``...).
    min_pixels : int
        As for :class:`LocalExecutor`, when per-file work is sent here.

    Raises
    ------
    ReduceError
        If dask.distributed is not installed or the scheduler cannot be reached.
    """

    def __init__(self, cluster: Any, min_pixels: int = DEFAULT_MIN_PIXELS) -> None:
        try:
            import distributed
        except ImportError:
            raise ReduceError("Dask distributed is not installed: pip install "
                              "'astroreduce[dask]'") from None
        self._distributed = distributed
        self._owned: list[Any] = []
        self.min_pixels = int(min_pixels)
        if isinstance(cluster, distributed.Client):
            self.client = cluster
        elif isinstance(cluster, str):
            self.client = self._connect(cluster)
        else:
            self.client = distributed.Client(cluster)
            self._owned.append(self.client)
        self.address = getattr(self.client.scheduler, "address", str(cluster))

    def _connect(self, address: str) -> Any:
        distributed = self._distributed
        if address == "local" or address.startswith("local:"):
            count = address.partition(":")[2]
            try:
                workers = int(count) if count else default_jobs()
            except ValueError:
                raise ReduceError(f"--cluster {address}: expected local or local:N") from None
            with _main_module_hidden():
                cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                                   processes=True, dashboard_address=None)
            client = distributed.Client(cluster)
            self._owned.extend([client, cluster])
            return client
        try:
            client = distributed.Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ReduceError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self._owned.append(client)
        return client

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r})"

    @property
    def max_workers(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def submit(self, fn: Callable, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return iter(self._distributed.as_completed(list(futures)))

    def worthwhile(self, n_items: int, pixels_each: int,
                   seconds_each: float | None = None) -> bool:
        if n_items < 2:
            return False
        if self.min_pixels == 0:
            return True
        return pixels_each >= self.min_pixels and (
            seconds_each is None or seconds_each >= handover_seconds(pixels_each))

    def close(self) -> None:
        """Close what this executor opened (a client or cluster given to it stays open)."""
        for item in reversed(self._owned):
            try:
                item.close()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the result
                log.debug("closing %r: %s", item, exc)
        self._owned = []


def executor_for(jobs: int | None = None, cluster: Any = None) -> Any:
    """The executor of ``--cluster`` (Dask) or ``--jobs`` (local pool, serial for 1)."""
    if cluster:
        return DaskExecutor(cluster)
    jobs = jobs or default_jobs()
    return SerialExecutor() if jobs <= 1 else LocalExecutor(jobs)


# -- one reduction, in whatever process runs it ------------------------------------
_RUN_LOCK = threading.Lock()


def run_reduction(spec: dict[str, Any], capture: bool = True) -> dict[str, Any]:
    """Run the reduction described by `spec` (``Reduce.to_spec()``) and report on it.

    Runs in the working directory named by the spec (reductions in one
    process run one at a time: the working directory is process-wide).

    Parameters
    ----------
    spec : dict
        As made by :meth:`recipe_system.reduction.coreReduce.Reduce.to_spec`.
    capture : bool
        Collect the log records in the result (for a worker process) instead
        of logging them here.

    Returns
    -------
    dict
        ``name``, ``ok``, ``error`` (one line or None), ``output_filenames``,
        ``processed_filenames``, ``steps`` (summary rows), ``seconds`` and
        ``log`` (records, when captured).
    """
    from recipe_system.reduction.coreReduce import Reduce

    handler = LogCapture(exclude=_FOREIGN_LOGGERS) if capture else None
    root = logging.getLogger()
    result: dict[str, Any] = {"name": spec.get("name"), "ok": False, "error": None,
                              "output_filenames": [], "processed_filenames": [],
                              "steps": [], "log": []}
    start = time.perf_counter()
    with _RUN_LOCK:
        old_level = root.level
        if handler is not None:
            root.addHandler(handler)
            root.setLevel(spec.get("log_level", logutils.FULLINFO))
        cwd = os.getcwd()
        try:
            os.chdir(spec["workdir"])
            reduction = Reduce.from_spec(spec)
            try:
                reduction.runr()
                result["ok"] = True
            finally:
                result["output_filenames"] = reduction.output_filenames
                result["processed_filenames"] = list(reduction.processed_filenames)
                result["steps"] = [vars(r) for r in reduction.step_reports]
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            message = " ".join(str(exc).split())
            result["error"] = message or type(exc).__name__
            result["error_type"] = type(exc).__name__
        finally:
            os.chdir(cwd)
            if handler is not None:
                root.removeHandler(handler)
                root.setLevel(old_level)
    result["seconds"] = time.perf_counter() - start
    if handler is not None:
        result["log"] = handler.records
    return result
