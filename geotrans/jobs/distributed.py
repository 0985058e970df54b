"""Scale-out on Dask distributed: scenes of a folder, or strips of one scene (``geotrans.jobs.split``).

Each worker loads the model once (a WorkerPlugin) and keeps it. In a folder run
every scene runs through the same :func:`geotrans.jobs.batch.process_scene` as a
serial run, so resume, fault isolation and the summary behave the same. Workers
must see the input and output paths (a shared filesystem) and, for ``--model``,
the model file.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional

from geotrans.errors import DiskFullError, GeotransError, InputError, one_line
from geotrans.io.network import SCHEDULER_WAIT_S
from geotrans.jobs.batch import BatchSummary, SceneJob, SceneResult, process_scene, written_outputs
from geotrans.jobs.options import Cluster
from geotrans.model.weights import read_model_info
from geotrans.run.options import RunOptions
from geotrans.run.runner import resolved

log = logging.getLogger(__name__)


def _distributed():
    if not log.isEnabledFor(logging.DEBUG):  # Dask's own chatter (cancelled tasks, workers killed on close) is
        # for -v; workers read it from the environment when they start
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        logging.getLogger("distributed").setLevel(logging.ERROR)
    try:
        import distributed
    except ImportError:
        raise GeotransError("running on a Dask cluster needs Dask", hint="pip install '.[dask]' in the clone") from None
    return distributed


def _model_plugin(model_path: Optional[str], torch_threads: Optional[int], local: bool = False):
    distributed = _distributed()

    class ModelPlugin(distributed.WorkerPlugin):
        """Loads the generator once per worker and keeps it there. A local cluster's workers ignore Ctrl-C,
        which a terminal sends to the whole process group: the run that started them closes them."""

        name = "geotrans-model"

        def setup(self, worker) -> None:
            import signal

            import torch

            if local:
                try:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                except ValueError:  # not this process's main thread: it keeps Python's own handling
                    pass

            from geotrans.model.weights import load_generator
            from geotrans.run.runner import resolve_device

            if torch_threads:
                torch.set_num_threads(torch_threads)
            worker.geotrans_model = load_generator(model_path)
            worker.geotrans_device = resolve_device("auto").type  # this worker's own GPU, if it has one

    return ModelPlugin()


def worker_model():
    """(generator, model info, device name) loaded on the Dask worker running the calling task."""
    from distributed import get_worker

    worker = get_worker()
    return (*worker.geotrans_model, worker.geotrans_device)


@contextmanager
def dask_client(model_path: Optional[str], cluster: Cluster) -> Iterator:
    """A Client of the ``cluster``: an existing one (its ``scheduler``), or a LocalCluster of its
    ``local_workers`` processes (closed on exit); with the model loaded on every worker."""
    if cluster.here:
        raise ValueError("dask_client needs a cluster: a scheduler or local workers")
    scheduler, local_workers = cluster.scheduler, cluster.local_workers
    distributed = _distributed()
    started = time.perf_counter()
    local = None
    torch_threads = None
    if scheduler is not None:
        check_scheduler(scheduler)
    from distributed.deploy.spec import SpecCluster

    before = set(SpecCluster._instances)
    try:
        if scheduler is None:
            torch_threads = max(1, (os.cpu_count() or 1) // local_workers)
            local = distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None)
        with distributed.Client(scheduler or local, timeout=SCHEDULER_WAIT_S) as client:
            client.register_plugin(_model_plugin(model_path, torch_threads, local=local is not None))
            log.info("dask: %d workers at %s, ready in %.1f s", len(client.scheduler_info()["workers"]),
                     client.scheduler.address, time.perf_counter() - started)
            yield client
    finally:
        _close_local_clusters(set(SpecCluster._instances) - before)


def _close_local_clusters(clusters: set) -> None:
    """Close the local clusters this run started, even one a Ctrl-C caught half started, and take them off
    Dask's list of clusters to close at exit (which would print a traceback for a half-started one)."""
    from distributed.deploy.spec import SpecCluster

    for cluster in clusters:
        try:
            cluster.close(timeout=10)
        except BaseException:  # noqa: BLE001 - a half-started cluster cannot always close; its processes end with us
            pass
        SpecCluster._instances.discard(cluster)


def check_scheduler(address: str, seconds: Optional[float] = None) -> None:
    """An InputError unless a Dask scheduler answers at ``address`` within ``seconds``: nothing listening,
    a server that accepts and says nothing, or one that answers in another protocol is one line, never a
    wait without end (Dask's own handshake has no bound)."""
    _distributed()
    seconds = SCHEDULER_WAIT_S if seconds is None else seconds
    try:
        answer = asyncio.run(asyncio.wait_for(_identity(address, seconds), seconds))
    except (asyncio.TimeoutError, TimeoutError):
        raise InputError(f"{address}: no Dask scheduler answered within {seconds:g} s",
                         hint="check the address and that the scheduler is running") from None
    except OSError as err:  # refused, unreachable, a name that does not resolve
        raise InputError(f"{address}: no Dask scheduler answered ({one_line(err)[:200]})",
                         hint="check the address and that the scheduler is running") from None
    except Exception:  # noqa: BLE001 - bytes that are not Dask's protocol fail in many ways while decoded
        raise InputError(f"{address}: what answered there does not speak Dask's protocol",
                         hint="check the address and its port") from None
    if not (isinstance(answer, dict) and answer.get("type") == "Scheduler"):
        raise InputError(f"{address}: what answered there is not a Dask scheduler")


async def _identity(address: str, seconds: float):
    from distributed.comm import connect

    comm = await connect(address, timeout=seconds)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _scene_on_worker(job: SceneJob, options: RunOptions, force: bool, written: frozenset = frozenset()) -> SceneResult:
    generator, model_info, device = worker_model()
    options = resolved(replace(options, device=device) if options.device == "auto" else options)
    return process_scene(job, generator, model_info, options, force, written=written)


def run_batch_dask(jobs: list[SceneJob], model_path: Optional[str], options: RunOptions, out_dir: str | os.PathLike,
                   cluster: Cluster, force: bool = False,
                   on_scene: Optional[Callable[[SceneResult], None]] = None) -> BatchSummary:
    """Spread ``jobs`` over the ``cluster``: an existing one, or a LocalCluster started for them."""
    distributed = _distributed()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, SceneResult] = {}
    summary = BatchSummary(model=read_model_info(model_path).record())
    with dask_client(model_path, cluster) as client:
        futures = client.map(_scene_on_worker, jobs, options=options, force=force, written=written_outputs(out_dir),
                             pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in distributed.as_completed(futures):
                i = index[future.key]
                try:
                    results[i] = future.result()
                except DiskFullError as err:  # every following scene would fail too
                    results[i] = SceneResult(jobs[i].src, jobs[i].dst, "failed", one_line(err))
                    summary.results = [results[k] for k in sorted(results)]
                    summary.write_if_possible(out_dir)
                    client.cancel(futures)
                    raise
                except (distributed.KilledWorker, OSError) as err:  # a worker lost: isolate the scene
                    results[i] = SceneResult(jobs[i].src, jobs[i].dst, "failed", f"worker error: {err}")
                summary.results = [results[k] for k in sorted(results)]
                summary.write(out_dir)
                if on_scene:
                    on_scene(results[i])
        except KeyboardInterrupt:
            client.cancel(futures)
            summary.interrupted = True
            summary.write_if_possible(out_dir)
            raise
    return summary
