"""Where a sweep's unfinished runs train before its loop loads them: on this machine (``executor: local``)
or as tasks on a Ray cluster (``executor: ray``; docs/cluster.md).

Every sweep (the headline, the validation search, the ablation, ``python -m arerec compare``) first hands
the configurations of its runs to :func:`train_runs`, then trains or loads each in its own loop
(:func:`arerec.train.loop.train_or_load`), which finds the runs trained here finished and only loads them.

- ``local``: with ``workers`` > 1 the runs train that many at a time in worker processes
  (:func:`arerec.sweeps.parallel.train_pending`); with 1, nothing happens here and the sweep's loop trains them
  one by one.
- ``ray``: each unfinished run is one Ray task (:func:`run_task`) that asks for ``ray_num_cpus`` CPUs and
  ``ray_num_gpus`` GPUs and trains through the same :func:`~arerec.train.loop.train_or_load` as a local run, in a
  fresh worker process (``max_calls=1``: its TensorFlow memory goes with it). A task whose worker dies (killed, out
  of memory, its node lost) is retried up to ``max_retries`` times, and the retry resumes the run from its last
  checkpoint, so no run is trained to the end twice; the seeds, and so the numbers, are those of a local run.
  Each task inherits this process's ``KERAS_BACKEND`` and the allocator settings of :mod:`arerec.malloc_tuning`.

A task writes the run into ``model_path`` and reads the prepared data under ``data_path``, so on a cluster both
must be storage that every node sees at the same path. Before anything trains, the driver writes a marker file
into each; a task that cannot see one fails at once with :class:`~arerec.errors.SharedStorageError`, naming the
folder and the node. Each run's output goes to ``{run folder}.log`` and the process that trains it is named in
``{run folder}.pid`` (one ``PID HOST`` line per attempt), beside the run folder, as with local workers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arerec.config import Config
from arerec.console import say
from arerec.errors import ArerecError, ClusterError, ConfigError, SharedStorageError
from arerec.files import write_text_atomic

if TYPE_CHECKING:
    from arerec.train.runs import RunPaths

EXECUTORS = {"local": "this machine: the sweep's loop, or `workers` worker processes",
             "ray": "one Ray task per run, on the cluster at `ray_address` (docs/cluster.md)"}
INSTALL = "pip install -e '.[cluster]'"
CONNECT_TIMEOUT_S = 10.0  # ray.init itself waits for an unreachable address without end (measured: > 200 s)
DEFAULT_PORT = 6379  # the head node's GCS port of `ray start --head`
MAX_RETRIES = 3  # Ray's own default for tasks
REPORT_EVERY_S = 60.0  # a progress line at least this often, even when nothing changed
# Test hook (tests/sweeps/test_executors.py): seconds a task sleeps once its run has written cp-0001, so that a test
# can kill its worker mid-run. Read here only; the training loop knows nothing of it.
PAUSE_ENV = "AREREC_TEST_PAUSE_AFTER_EPOCH1_S"
# Settings of this process that every task gets (runtime_env env_vars), besides the allocator's (MALLOC_ENV).
PASSED_ENV = ("KERAS_BACKEND", "AREREC_MALLOC_TUNING", "TF_CPP_MIN_LOG_LEVEL", PAUSE_ENV)


@dataclass(frozen=True)
class Executor:
    """How a sweep trains its unfinished runs; the values are checked when it is made (ConfigError).

    ``kind``: one of :data:`EXECUTORS`. ``workers``: local runs trained at once (1: one by one, in the sweep's loop).
    ``ray_address``: '' does what ``ray.init()`` does (joins ``RAY_ADDRESS``, else the cluster that ``ray start`` runs
    on this machine, else starts a Ray instance here), 'auto' joins the cluster that ``ray start`` runs on this
    machine, 'HOST:PORT' (or 'ray://HOST:PORT') joins that head node.
    ``num_cpus``, ``num_gpus``: what each run's task asks of its node. ``max_retries``: retries after a lost worker.
    """

    kind: str = "local"
    workers: int = 1
    ray_address: str = ""
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = MAX_RETRIES

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(repr(k) for k in EXECUTORS)} "
                              f"({'; '.join(f'{k}: {v}' for k, v in EXECUTORS.items())}), received: {self.kind!r}")
        if not _integer(self.workers) or self.workers < 1:
            raise ConfigError(f"workers must be an integer >= 1, received: {self.workers!r}")
        if not isinstance(self.ray_address, str):
            raise ConfigError("ray_address must be '' (a Ray instance on this machine), 'auto' (the cluster `ray start` "
                              f"runs here) or 'HOST:PORT' of the head node, received: {self.ray_address!r}")
        if not _number(self.num_cpus) or self.num_cpus <= 0:
            raise ConfigError(f"ray_num_cpus must be a number > 0 (CPUs each run's Ray task asks for), "
                              f"received: {self.num_cpus!r}")
        if not _number(self.num_gpus) or self.num_gpus < 0 or (self.num_gpus > 1 and not float(self.num_gpus).is_integer()):
            raise ConfigError(f"ray_num_gpus must be a number >= 0, a whole one above 1 (GPUs each run's Ray task asks "
                              f"for; 0: none), received: {self.num_gpus!r}")
        if not _integer(self.max_retries) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, received: {self.max_retries!r}")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def from_extras(extras: Mapping[str, Any]) -> Executor:
    """The executor of a notebook's or a params file's settings: ``executor``, ``workers``, ``ray_address``,
    ``ray_num_cpus`` and ``ray_num_gpus`` (:data:`arerec.report.parameters.EXTRAS`)."""
    return Executor(kind=extras["executor"], workers=extras["workers"], ray_address=extras["ray_address"],
                    num_cpus=extras["ray_num_cpus"], num_gpus=extras["ray_num_gpus"])


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`train_runs` did with one run.

    ``trained_by``: 'loaded' (finished before: the loop only loads it), 'ray' (a Ray task trained it),
    'worker process' (a local worker did) or 'sweep loop' (left to the sweep's own loop, one by one).
    For 'ray': the ``node`` (host name) that finished it, the ``attempts`` it took (2 or more after a lost
    worker), the checkpoint the last attempt started from (``resumed_from``, '' from scratch) and its ``seconds``.
    """

    name: str
    trained_by: str
    node: str = ""
    attempts: int = 0
    resumed_from: str = ""
    seconds: float = 0.0


def train_runs(cfgs: Sequence[Config], executor: Executor | None = None, *, score_test: bool = True,
               poll_s: float = 1.0) -> list[RunOutcome]:
    """Train the unfinished runs of ``cfgs`` with ``executor`` (default: local, one by one), so that the sweep's
    loop then loads them; see the module docstring.

    ``score_test`` False: a clean run's test figures are not computed (the validation search never reads test).
    Prints one line per run saying what trained it (or that it was loaded) and, under Ray, how many runs are
    done, running and queued as they progress. Returns one :class:`RunOutcome` per distinct run, in order.
    A run that fails stops nothing already running; once all have ended, :class:`~arerec.errors.ClusterError`
    (or :class:`~arerec.errors.SharedStorageError`) names it and its log. Finished runs are kept.
    """
    from arerec.sweeps.parallel import train_pending, unfinished_runs

    executor = executor or Executor()
    if executor.kind == "ray":  # a missing Ray or an unreachable cluster fails before data are prepared
        import_ray()
        if _address(executor.ray_address) not in ("", "auto"):
            check_reachable(_address(executor.ray_address))
    pending, finished = unfinished_runs(cfgs)
    outcomes = {name: RunOutcome(name, "loaded") for name in finished}
    if executor.kind == "ray" and pending:
        outcomes.update((o.name, o) for o in _train_on_ray(pending, executor, score_test=score_test, poll_s=poll_s))
    elif pending:
        by_workers = set(train_pending(pending, executor.workers, score_test=score_test))
        outcomes.update((p.name, RunOutcome(p.name, "worker process" if p.name in by_workers else "sweep loop"))
                        for _, p in pending)
    ordered = [outcomes[name] for name in [*finished, *(p.name for _, p in pending)]]
    say(summary(executor, ordered))
    return ordered


def summary(executor: Executor, outcomes: Sequence[RunOutcome]) -> str:
    """``executor ray: 2 trained as Ray tasks, 1 loaded (finished before)`` and one line per run."""
    words = {"loaded": "loaded (finished before)", "ray": "trained as Ray tasks",
             "worker process": "trained in worker processes", "sweep loop": "left to the sweep's loop (one by one)"}
    counts = Counter(o.trained_by for o in outcomes)
    head = f"executor {executor.kind}: " + (", ".join(f"{n} {words[k]}" for k, n in counts.items()) or "no runs")
    lines = [head]
    for o in outcomes:
        detail = ""
        if o.trained_by == "ray":
            detail = f" on {o.node} in {o.seconds:.0f} s, attempt {o.attempts}"
            detail += f", resumed from {o.resumed_from}" if o.resumed_from else ""
        lines.append(f"  {o.trained_by:<14} {o.name}{detail}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The driver's side: Ray, the cluster, the markers, the tasks
# --------------------------------------------------------------------------------------------
def import_ray():
    """The ``ray`` module, or ConfigError with the command that installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor: ray needs Ray, which is not installed in this environment ({sys.executable}): "
                          f"install it with `{INSTALL}`, or set executor: local") from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of 'HOST:PORT', 'ray://HOST:PORT' or 'HOST' (port :data:`DEFAULT_PORT`)."""
    bare = address.removeprefix("ray://")
    host, sep, port = bare.rpartition(":")
    if not sep:
        return bare, DEFAULT_PORT
    if not port.isdigit() or not host:
        raise ConfigError(f"ray_address must be '', 'auto' or 'HOST:PORT' (as `ray start --head` prints it), "
                          f"received: {address!r}")
    return host, int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ClusterError, naming ``address`` and the fix, when nothing answers there within ``timeout_s``."""
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(
            f"cannot reach a Ray cluster at ray_address {address!r} ({exc}; waited {timeout_s:g} s). Start its head "
            f"node there with `ray start --head` (it prints the address to give), set ray_address to '' to start a "
            f"Ray instance on this machine or to 'auto' to join the one `ray start` runs here, or set executor: "
            f"local") from None


def _address(address: str) -> str:
    """``ray_address``, or ``RAY_ADDRESS`` when it is ''."""
    return address or os.environ.get("RAY_ADDRESS", "")


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S):
    """Join the Ray cluster at ``address`` (see :class:`Executor`), or stay with the one this process has joined;
    the ``ray`` module. A Ray instance started here lasts as long as this process (its next sweeps re-use it)."""
    ray = import_ray()
    target = _address(address)
    if target and target != "auto":
        check_reachable(target, timeout_s)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=target or None, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = repr(target) if target else "this machine"
        raise ClusterError(f"cannot start or join a Ray cluster at {where}: {exc}. Start one with `ray start --head` "
                           f"and set ray_address to the address it prints (or 'auto'), or set executor: local") from None
    return ray


def task_environment() -> dict[str, str]:
    """The variables each task gets: the allocator settings (:func:`arerec.malloc_tuning.tuned_environment`) and those
    of :data:`PASSED_ENV` that this process has (``KERAS_BACKEND`` above all)."""
    from arerec.malloc_tuning import MALLOC_ENV, tuned_environment

    env = {key: value for key, value in tuned_environment().items() if key in MALLOC_ENV}
    env.update({key: os.environ[key] for key in PASSED_ENV if key in os.environ})
    return env


def shipped(cfg: Config) -> Config:
    """``cfg`` with absolute ``model_path`` and ``data_path``: a task's working folder is not the driver's."""
    return cfg.replace(model_path=str(Path(cfg.model_path).resolve()), data_path=str(Path(cfg.data_path).resolve()))


def write_markers(cfgs: Sequence[Config], token: str) -> dict[tuple[str, str], str]:
    """A marker file in each distinct model and data folder of ``cfgs`` (absolute): {(setting, folder): marker}."""
    markers = {}
    for cfg in cfgs:
        for setting in ("model_path", "data_path"):
            folder = getattr(cfg, setting)
            if (setting, folder) not in markers:
                marker = Path(folder) / f".arerec-shared-{token}"
                write_text_atomic(marker, f"written by the driver of a Ray sweep on {socket.gethostname()}, "
                                          f"pid {os.getpid()}; removed when the sweep ends\n")
                markers[setting, folder] = str(marker)
    return markers


def _pid_file(paths: RunPaths) -> Path:
    return paths.root.parent / f"{paths.name}.pid"


def _log_file(paths: RunPaths) -> Path:
    return paths.root.parent / f"{paths.name}.log"


def _remote(fn, executor: Executor):
    """(ray, ``fn`` as a Ray task run in a fresh worker each time, the task options of ``executor``)."""
    ray = connect(executor.ray_address)
    task = ray.remote(max_calls=1)(fn)  # max_calls is the function's own option: .options() refuses it
    options = dict(num_cpus=executor.num_cpus, num_gpus=executor.num_gpus, max_retries=executor.max_retries,
                   retry_exceptions=False, runtime_env={"env_vars": task_environment()})
    return ray, task, options


def _train_on_ray(pending: Sequence[tuple[Config, RunPaths]], executor: Executor, *, score_test: bool,
                  poll_s: float) -> list[RunOutcome]:
    """One Ray task per run of ``pending``; waits for all of them, printing progress (see :func:`train_runs`)."""
    from arerec.sweeps.progress import PoolProgress

    ray, task, options = _remote(run_task, executor)
    cfgs = [shipped(cfg) for cfg, _ in pending]
    markers = write_markers(cfgs, uuid.uuid4().hex[:12])
    waiting: dict[Any, RunPaths] = {}
    outcomes: list[RunOutcome] = []
    failures: list[ArerecError] = []
    say(f"training {len(pending)} runs as Ray tasks ({executor.num_cpus:g} CPU, {executor.num_gpus:g} GPU each, "
        f"up to {executor.max_retries} retries after a lost worker; each run's output: <run folder>.log)")
    try:
        for cfg, (_, paths) in zip(cfgs, pending, strict=True):
            paths.root.parent.mkdir(parents=True, exist_ok=True)
            _pid_file(paths).unlink(missing_ok=True)  # from an earlier sweep that ended abruptly
            mine = {setting: markers[setting, getattr(cfg, setting)] for setting in ("model_path", "data_path")}
            waiting[task.options(**options, name=f"train {paths.name}").remote(cfg.to_dict(), paths.name, mine, score_test)] = paths
        progress, said, last = PoolProgress("ray", len(pending)), "", 0.0
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1, timeout=poll_s)
            for ref in ready:
                paths = waiting.pop(ref)
                progress.done()
                outcome, failure = _collect(ray, ref, paths, executor)
                if failure is not None:
                    failures.append(failure)
                    say(f"  FAILED {paths.name}: {failure}")
                if outcome is not None:
                    outcomes.append(outcome)
                    say(f"  finished {paths.name} on {outcome.node} in {outcome.seconds:.0f} s (attempt "
                        f"{outcome.attempts}{', resumed from ' + outcome.resumed_from if outcome.resumed_from else ''})")
            running = sum(_pid_file(p).is_file() for p in waiting.values())
            line = progress.line(running, len(waiting) - running)
            counts = line.split(" (")[0]
            if counts != said or time.perf_counter() - last >= REPORT_EVERY_S:
                say("  " + line)
                said, last = counts, time.perf_counter()
        progress.close()
    finally:
        for ref in waiting:  # interrupted: stop what is still queued or running (finished epochs are kept)
            ray.cancel(ref, force=True)
        for marker in markers.values():
            Path(marker).unlink(missing_ok=True)
        for _, paths in pending:
            _pid_file(paths).unlink(missing_ok=True)
    if failures:
        first = next((f for f in failures if isinstance(f, SharedStorageError)), None)
        if first is not None:
            raise first
        raise ClusterError(f"{len(failures)} of {len(pending)} runs failed on the Ray cluster: "
                           + "; ".join(str(f) for f in failures)
                           + ". Fix the cause and run the sweep again: finished runs are kept, part-way ones resume.")
    return outcomes


def _collect(ray, ref, paths: RunPaths, executor: Executor) -> tuple[RunOutcome | None, ArerecError | None]:
    """The outcome of one finished task, or the error that names why its run failed."""
    try:
        done = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the task raised: not retried (it would fail again)
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SharedStorageError):
            return None, cause
        return None, ClusterError(f"{paths.name} raised {type(cause).__name__ if cause else 'an error'}: "
                                  f"{cause if cause else exc} (its log: {_log_file(paths)})")
    except ray.exceptions.RayError as exc:  # its worker or node was lost more than max_retries times
        return None, ClusterError(f"{paths.name}: its worker was lost {executor.max_retries + 1} times "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                                  f"its log: {_log_file(paths)})")
    return RunOutcome(done["name"], "ray", node=done["node"], attempts=done["attempt"],
                      resumed_from=done["resumed_from"], seconds=done["seconds"]), None


def run_calls_on_ray(calls: Sequence[tuple[str, Any, Mapping[str, Any]]], executor: Executor, cfgs: Sequence[Config],
                     *, what: str = "trials", poll_s: float = 1.0) -> list[Any]:
    """Run ``fn(**kwargs)`` for each ``(name, fn, kwargs)`` of ``calls`` as one Ray task (in a fresh worker, retried
    from the start up to ``max_retries`` times when its worker dies), and return their results in order.

    ``cfgs`` are the configurations the tasks read and write through: their ``model_path`` and ``data_path`` must be
    shared storage, checked with marker files as for runs (:func:`check_markers`, in the task before ``fn``). A
    search's trials go through here (:mod:`arerec.sweeps.tuning`).
    """
    ray, task, options = _remote(_call, executor)
    markers = write_markers([shipped(cfg) for cfg in cfgs], uuid.uuid4().hex[:12])
    shared = [(setting, marker) for (setting, _), marker in markers.items()]
    refs = []
    try:
        for name, fn, kwargs in calls:
            refs.append(task.options(**options, name=name).remote(fn, dict(kwargs), shared))
        results, clock = [], time.perf_counter()
        for n, ref in enumerate(refs, start=1):
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, ArerecError):
                    raise cause from None
                raise ClusterError(f"{calls[n - 1][0]} raised {type(cause).__name__ if cause else 'an error'}: "
                                   f"{cause if cause else exc}") from None
            except ray.exceptions.RayError as exc:
                raise ClusterError(f"{calls[n - 1][0]}: its worker was lost {executor.max_retries + 1} times "
                                   f"({type(exc).__name__}). Run the search again: it resumes where it stopped") from None
            say(f"  [ray] {n}/{len(refs)} {what} done ({time.perf_counter() - clock:.0f} s)")
        refs = []
        return results
    finally:
        for ref in refs:  # interrupted: stop what is still queued or running
            ray.cancel(ref, force=True)
        for marker in markers.values():
            Path(marker).unlink(missing_ok=True)


def _call(fn, kwargs: Mapping[str, Any], markers: Sequence[tuple[str, str]]) -> Any:
    """The body of a :func:`run_calls_on_ray` task: the shared-storage markers checked, then ``fn(**kwargs)``."""
    for setting, marker in markers:
        check_markers({setting: marker})
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if pause > 0:
        _pause_after_epoch1(pause)
    return fn(**kwargs)


# --------------------------------------------------------------------------------------------
# The task's side (in a Ray worker process)
# --------------------------------------------------------------------------------------------
def node_name() -> str:
    """This machine as the error messages name it: its host name and IP address."""
    host = socket.gethostname()
    try:
        address = socket.gethostbyname(host)
    except OSError:
        return host
    return f"{host} ({address})"


def check_markers(markers: Mapping[str, str]) -> None:
    """Raise SharedStorageError unless every marker file the driver wrote ({setting: marker path}) is seen here."""
    for setting, marker in markers.items():
        if not Path(marker).is_file():
            raise SharedStorageError(
                f"{setting} must be shared storage that every node of the Ray cluster sees at the same path: node "
                f"{node_name()} cannot see {marker}, which the driver wrote into {setting} "
                f"{str(Path(marker).parent)!r} before the sweep. Put {setting} on a file system mounted at that path on "
                f"every node (NFS, Lustre, ...) and give it as an absolute path, or set executor: local")


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (the file descriptors, so TensorFlow's too) and the ``arerec`` log
    (INFO and above) appended to ``path``; all put back afterwards."""
    import logging

    logger = logging.getLogger("arerec")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    level = logger.level
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    try:
        with open(path, "a") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _pause_after_epoch1(seconds: float) -> None:
    """The test hook of :data:`PAUSE_ENV`: sleep ``seconds`` once cp-0001 is written (this process only)."""
    from arerec.train import loop

    save = loop.save_checkpoint

    def saving(path, exp, model, optimizer, epoch):
        save(path, exp, model, optimizer, epoch)
        if epoch == 1:
            time.sleep(seconds)

    loop.save_checkpoint = saving


def run_task(cfg_values: dict[str, Any], name: str, markers: Mapping[str, str], score_test: bool = True) -> dict[str, Any]:
    """Train (or resume, or load) one run, as a Ray task: the body that :func:`train_runs` sends to the cluster.

    ``cfg_values``: the run's Config as a dict, with absolute paths (:func:`shipped`); ``name``: the run's name as
    the driver derived it; ``markers``: {setting: marker file} (:func:`write_markers`), checked before anything else.
    Appends ``PID HOST`` to ``{run folder}.pid`` and its output to ``{run folder}.log``. Returns {name, node, pid,
    attempt (1 + the attempts before it), resumed_from (the latest checkpoint of the unfinished run when this
    attempt started, or ''), seconds}.
    """
    from arerec.train.runs import checkpoint_epoch, run_paths

    started = time.perf_counter()
    check_markers(markers)
    cfg = Config.from_dict(cfg_values, source="a Ray task's configuration")
    paths = run_paths(cfg, name)
    pid_file = _pid_file(paths)
    attempt = 1 + (len(pid_file.read_text().splitlines()) if pid_file.is_file() else 0)
    with open(pid_file, "a") as handle:
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
    with _output_to(_log_file(paths)):  # from here on, TensorFlow's start-up notices too
        from arerec.data.inputs import load_experiment
        from arerec.train.loop import is_finished, train_or_load
        from arerec.train.runs import experiment_paths

        exp = load_experiment(cfg)
        if experiment_paths(exp).name != name:  # the name holds the data's max_seq: other data, another name
            raise SharedStorageError(f"on node {node_name()} the run the driver calls {name} is named "
                                     f"{experiment_paths(exp).name}: its data under data_path {cfg.data_path!r} differ "
                                     "from the driver's. Put data_path on storage every node sees, or set executor: local")
        resumable = [p.name for p in paths.checkpoints() if checkpoint_epoch(p) < cfg.epochs]
        resumed_from = resumable[-1] if resumable and not is_finished(cfg, exp) else ""
        print(f"attempt {attempt} on {node_name()}, pid {os.getpid()}: "
              + (f"resuming from {resumed_from}" if resumed_from else "no checkpoint to resume from"), flush=True)
        pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
        if pause > 0:
            _pause_after_epoch1(pause)
        result = train_or_load(cfg, exp, score_test=score_test)
        print(f"{result.name}: {len(result.history)} epochs; this attempt took {time.perf_counter() - started:.0f} s",
              flush=True)
    return {"name": result.name, "node": socket.gethostname(), "pid": os.getpid(), "attempt": attempt,
            "resumed_from": resumed_from, "seconds": round(time.perf_counter() - started, 1)}
