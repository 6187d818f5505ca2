"""Predict a labelled folder on a Ray cluster: actors that each load the model once and take chunks of image paths."""
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from limelight.core.dataset import LocalEngine
from limelight.core.errors import Cancelled, DatasetError, LimelightError

# Chunks of this many batches go to an actor at a time: its own thread pool decodes one batch
# while its model runs another, and the driver's round trips stay few.
_BATCHES_PER_CHUNK = 4
# Chunks (or items) queued on each actor, so that it never waits for the driver between two.
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
    labels: object

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
        return cls(source, content, trust, model.preprocessing, model.settings.resize, model.input_size,
                   model.labels)

    def load(self):
        """Load the model on this worker, refusing it as the driver would have; it then names its source and classes as there."""
        from limelight.core.models import load_model
        from limelight.core.zoo import load_builtin

        if self.source.startswith("builtin:"):
            return load_builtin(self.source.removeprefix("builtin:"))
        options = {"trust": self.trust, "preprocessing": self.preprocessing, "resize": self.resize,
                   "input_size": self.input_size}
        if self.content is None:
            model = load_model(self.source, **options)
        else:
            with tempfile.TemporaryDirectory(prefix="limelight-model-") as folder:
                copy = Path(folder) / Path(self.source).name
                copy.write_bytes(self.content)
                try:
                    model = load_model(copy, **options)
                except LimelightError as error:
                    raise type(error)(error.reason, path=self.source) from None
        # Reports and file names record these: the same as the driver's, whatever the worker's copy.
        model.source, model.labels = self.source, self.labels
        return model


class _Predictor:
    """One Ray actor: loads the model once, then predicts chunks of image paths with the local engine."""

    def __init__(self, recipe):
        import ray

        from limelight.core.models import import_tensorflow

        import_tensorflow()
        self.model, self.error = None, None
        try:
            # The recipe comes as a reference in a list, fetched here: Ray warns about every actor
            # whose own arguments sit in the object store. The driver holds the reference for the
            # whole run, so a restarted actor finds it.
            self.model = ray.get(recipe[0]).load()
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

    def apply(self, function, item):
        """``function(model, item)`` on this worker's model."""
        return function(self.model, item)


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
        Actors to start, sharing the cluster's CPUs; by default one per node, with all its CPUs.
    trust : bool
        Whether workers may load a model that runs code (as ``--trust-model``).

    Attributes
    ----------
    startup_seconds : float
        How long the last start took to start its actors and load the model on each.
    worker_pids : list of int
        The process ids of the last start's actors.
    starts : int
        How many times this engine has started its actors.
    """

    name = "ray"

    def __init__(self, *, address=None, workers=None, trust=False):
        self.address = address
        self.workers = workers
        self.trust = trust
        self.startup_seconds = 0.0
        self.worker_pids = []
        self.starts = 0
        self._actors = None
        self._model = None

    def run(self, model, paths, *, batch_size, on_batch, cancelled):
        """Predict `paths`, calling ``on_batch(positions, probabilities, failures)`` in the driver per batch.

        Raises
        ------
        Cancelled
            When `cancelled()` turns true; the actors are stopped first.
        """
        size = batch_size * _BATCHES_PER_CHUNK
        chunks = [paths[start:start + size] for start in range(0, len(paths), size)]

        def on_chunk(index, results):
            for positions, probabilities, failures in results:
                on_batch([index * size + p for p in positions], probabilities,
                         [(index * size + p, reason) for p, reason in failures])

        self._distribute(model, lambda actor, chunk: actor.predict.remote(chunk, batch_size), chunks,
                         on_chunk, cancelled)

    def map(self, model, function, items, *, on_result, cancelled):
        """Call ``function(model, item)`` on the workers, passing ``on_result(position, result)`` in the driver.

        Results come as workers finish them, not in order. `function` must be importable on the
        workers (a module-level function), and whatever it reads or writes must be on a path
        every worker shares.
        """
        self._distribute(model, lambda actor, item: actor.apply.remote(function, item), list(items),
                         on_result, cancelled)

    @contextmanager
    def started(self, model):
        """Keep the actors up, with `model` loaded, for every `run` and `map` of `model` inside this block.

        Predicting a folder and then explaining its images starts the actors (and loads the model
        on each) once, not once per step. Outside such a block each call starts and stops its own.
        """
        if self._actors is not None and self._model is model:
            yield
            return
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=False)
        actors = []
        try:
            started = time.perf_counter()
            recipe = ray.put(ModelRecipe.of(model, trust=self.trust))
            predictor = ray.remote(max_restarts=-1, max_task_retries=-1)(_Predictor)
            actors = [predictor.options(**options).remote([recipe]) for options in self._placements(ray)]
            self.starts += 1
            self.worker_pids = []
            for pid, error in ray.get([actor.ready.remote() for actor in actors]):
                if error is not None:
                    raise error[0](error[1])
                self.worker_pids.append(pid)
            self.startup_seconds = time.perf_counter() - started
            # The driver holds the recipe's reference while the actors live, so a restarted one finds it.
            self._actors, self._model, self._recipe = actors, model, recipe
            yield
        finally:
            self._actors = self._model = self._recipe = None
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started_here:
                ray.shutdown()

    def _distribute(self, model, submit, items, on_result, cancelled):
        """Hand the actors `items` (two queued each), and pass each result to `on_result`."""
        with self.started(model):
            self._gather(_ray(), self._actors, submit, items, on_result, cancelled)

    def _placements(self, ray):
        """Ray options of each actor: by default one per node, holding all its CPUs; else `workers` sharing them.

        The model's runtime spreads each layer over the threads it is given (Ray sets a worker's
        OMP_NUM_THREADS to its CPUs): one actor per node with every CPU ran 1.3-1.9x faster than
        a one-CPU actor on the same node, and loads the model once per node.
        """
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self.workers:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.workers)
            return [{"num_cpus": cpus}] * self.workers
        return [{"num_cpus": max(1, int(node["Resources"].get("CPU", 1))),
                 "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=True)}
                for node in ray.nodes() if node["Alive"]]

    @staticmethod
    def _gather(ray, actors, submit, items, on_result, cancelled):
        positions = iter(range(len(items)))
        in_flight = {}

        def next_to(actor):
            position = next(positions, None)
            if position is not None:
                in_flight[submit(actor, items[position])] = (position, actor)

        for _ in range(_CHUNKS_IN_FLIGHT):
            for actor in actors:
                next_to(actor)
        while in_flight:
            if cancelled():
                raise Cancelled()
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=_POLL_SECONDS)
            for reference in ready:
                position, actor = in_flight.pop(reference)
                on_result(position, ray.get(reference))
                next_to(actor)


def _ray():
    try:
        import ray
    except ImportError:
        raise DatasetError("the ray engine needs Ray: pip install 'limelight[ray]'") from None
    return ray
