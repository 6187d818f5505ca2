"""Predict a labelled folder on a Ray cluster: actors that each load the model once and take chunks of image paths."""
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from limelight.core.dataset import LocalEngine
from limelight.core.errors import Cancelled, DatasetError, LimelightError

# Chunks of this many batches go to an actor at a time: its own thread pool decodes one batch
# while its model runs another, and the driver's round trips stay few.
_BATCHES_PER_CHUNK = 4
# Chunks queued on each actor, so that it never waits for the driver between two.
_CHUNKS_IN_FLIGHT = 2
# How often the driver looks at `cancelled()` while it waits for results.
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ModelRecipe:
    """What a worker needs to load the driver's model: a built-in name, or the model file's bytes.

    The bytes travel through Ray's object store, so workers need no shared copy of the file; a
    SavedModel folder is read at its path, which must be shared. The same trust rule holds on
    every worker: a model that would run code is refused unless `trust` is set.
    """

    source: str
    content: bytes | None
    trust: bool
    preprocessing: str
    resize: str
    input_size: tuple

    @classmethod
    def of(cls, model, *, trust: bool) -> "ModelRecipe":
        source = model.source
        if source.startswith("builtin:"):
            content = None
        elif Path(source).is_file():
            content = Path(source).read_bytes()
        elif Path(source).is_dir():
            content = None
        else:
            raise DatasetError(f"the ray engine sends workers the model file or a built-in name; "
                               f"'{source}' is neither")
        return cls(source, content, trust, model.preprocessing, model.settings.resize, model.input_size)

    def load(self):
        """Load the model on this worker, refusing it as the driver would have."""
        from limelight.core.models import load_model
        from limelight.core.zoo import load_builtin

        if self.source.startswith("builtin:"):
            return load_builtin(self.source.removeprefix("builtin:"))
        options = {"trust": self.trust, "preprocessing": self.preprocessing, "resize": self.resize,
                   "input_size": self.input_size}
        if self.content is None:
            return load_model(self.source, **options)
        with tempfile.TemporaryDirectory(prefix="limelight-model-") as folder:
            copy = Path(folder) / Path(self.source).name
            copy.write_bytes(self.content)
            try:
                return load_model(copy, **options)
            except LimelightError as error:
                raise type(error)(error.reason, path=self.source) from None


class _Predictor:
    """One Ray actor: loads the model once, then predicts chunks of image paths with the local engine."""

    def __init__(self, recipe: ModelRecipe):
        from limelight.core.models import import_tensorflow

        import_tensorflow()
        self.model, self.error = None, None
        try:
            self.model = recipe.load()
        except LimelightError as error:
            self.error = error  # said by ready(), as one line, rather than as a dead actor's traceback

    def ready(self):
        """This worker's process id, and why it could not load the model (None when it did)."""
        return os.getpid(), None if self.error is None else (type(self.error), str(self.error))

    def predict(self, paths, batch_size):
        """(positions, probabilities, failures) of every batch of `paths`, as `LocalEngine.run` gives them."""
        results = []
        LocalEngine(threads=2).run(self.model, paths, batch_size=batch_size,
                                   on_batch=lambda *result: results.append(result),
                                   cancelled=lambda: False)
        return results


class RayEngine:
    """Predicts on a Ray cluster; the driver gathers the results and writes what the local engine writes.

    Actors are restarted when their worker dies and their chunk is run again; results are gathered
    by chunk, so an image is never lost nor counted twice.

    Parameters
    ----------
    address : str, optional
        The cluster to join ("auto", "ray://head:10001"); None joins the one this process already
        started, or starts one on this machine.
    workers : int, optional
        Actors to start; one per CPU of the cluster by default.
    trust : bool
        Whether workers may load a model that runs code (as ``--trust-model``).

    Attributes
    ----------
    startup_seconds : float
        How long the last run took to start its actors and load the model on each.
    worker_pids : list of int
        The process ids of the last run's actors.
    """

    name = "ray"

    def __init__(self, *, address=None, workers=None, trust=False):
        self.address = address
        self.workers = workers
        self.trust = trust
        self.startup_seconds = 0.0
        self.worker_pids = []

    def run(self, model, paths, *, batch_size, on_batch, cancelled):
        """Predict `paths`, calling ``on_batch(positions, probabilities, failures)`` in the driver per batch.

        Raises
        ------
        Cancelled
            When `cancelled()` turns true; the actors are stopped first.
        """
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=False)
        actors = []
        try:
            started = time.perf_counter()
            recipe = ray.put(ModelRecipe.of(model, trust=self.trust))
            count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            predictor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(_Predictor)
            actors = [predictor.remote(recipe) for _ in range(count)]
            self.worker_pids = []
            for pid, error in ray.get([actor.ready.remote() for actor in actors]):
                if error is not None:
                    raise error[0](error[1])
                self.worker_pids.append(pid)
            self.startup_seconds = time.perf_counter() - started
            self._gather(ray, actors, paths, batch_size, on_batch, cancelled)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started_here:
                ray.shutdown()

    def _gather(self, ray, actors, paths, batch_size, on_batch, cancelled):
        size = batch_size * _BATCHES_PER_CHUNK
        chunks = iter(range(0, len(paths), size))
        in_flight = {}

        def submit(actor):
            start = next(chunks, None)
            if start is not None:
                in_flight[actor.predict.remote(paths[start:start + size], batch_size)] = (start, actor)

        for _ in range(_CHUNKS_IN_FLIGHT):
            for actor in actors:
                submit(actor)
        while in_flight:
            if cancelled():
                raise Cancelled()
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_POLL_SECONDS)
            for reference in ready:
                start, actor = in_flight.pop(reference)
                for positions, probabilities, failures in ray.get(reference):
                    on_batch([start + p for p in positions], probabilities,
                             [(start + p, reason) for p, reason in failures])
                submit(actor)


def _ray():
    try:
        import ray
    except ImportError:
        raise DatasetError("the ray engine needs Ray: pip install 'limelight[ray]'") from None
    return ray
