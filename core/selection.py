"""Explain a labelled dataset's selection: each image's predicted class and true class, saved with an index CSV."""
import csv
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from limelight.core.dataset import Evaluation, LocalEngine, image_seed
from limelight.core.errors import Cancelled, DatasetError, LimelightError
from limelight.core.pipeline import ExplainRequest, check_sanity, explain, export, export_paths, model_info

#: The file `explain_selection` writes beside the explanations: one row per explained class.
INDEX_FILE = "explained.csv"
INDEX_COLUMNS = ("path", "true", "predicted", "confidence", "explained", "why", "image", "report")


def image_targets(evaluation: Evaluation, position: int) -> list[int]:
    """The classes explained for one image: the predicted one, then the true one where it differs."""
    return list(dict.fromkeys([int(evaluation.predicted[position]), int(evaluation.true[position])]))


def image_request(request: ExplainRequest, evaluation: Evaluation, position: int) -> ExplainRequest:
    """`request` with the image's own seed (from its content and the request's seed): the same on any engine."""
    return dataclasses.replace(request, seed=image_seed(evaluation.digests[position], request.seed))


@dataclass(frozen=True)
class SaveOptions:
    """How each image's explanations are saved, as `pipeline.export` takes them."""

    style: object
    image_format: str = "png"
    caption: bool = False
    figure: bool = False
    sanity: bool = False
    force: bool = False


@dataclass(frozen=True)
class _Task:
    """One image's work, sent to whichever engine runs it (so it pickles: no callables)."""

    position: int
    path: Path
    targets: tuple
    request: ExplainRequest
    folder: Path
    options: SaveOptions


@dataclass(frozen=True)
class ImageExplained:
    """What one image's explanation produced.

    Attributes
    ----------
    position : int
        The image's position in the evaluation.
    path : Path
    explanations : dict of int to explanation
        Each class explained (predicted first), as `pipeline.explain` returns them.
    files : dict of int to list of Path
        Per class, the files written: image, report, arrays and, with a figure, the figure.
    sanity : dict of int to Sanity
        Per class, its sanity check where one was asked for.
    """

    position: int
    path: Path
    explanations: dict
    files: dict
    sanity: dict


@dataclass(frozen=True)
class SelectionExplained:
    """The outcome of `explain_selection`.

    Attributes
    ----------
    images : tuple of ImageExplained
        The images explained, in selection order.
    failures : tuple of (Path, str)
        The images that could not be explained, and why: one line that starts with the file at fault.
    index : Path
        The index CSV, listing exactly the files of `images`.
    cancelled : bool
        Whether it stopped early; `images` and the index hold what was finished.
    """

    images: tuple
    failures: tuple
    index: Path
    cancelled: bool = False

    @property
    def written(self) -> list:
        """Every file written, image by image."""
        return [file for image in self.images for files in image.files.values() for file in files]


def explain_selection(model, evaluation: Evaluation, positions, request: ExplainRequest, *, folder, options,
                      engine=None, progress=None, time_left=None, cancelled=None, on_image=None,
                      on_failure=None) -> SelectionExplained:
    """Explain each selected image's predicted class and, where it differs, its true class, and save them.

    Each image goes to ``folder/<its class folder>/`` through `pipeline.explain` and
    `pipeline.export`, with a seed from its content (`image_request`), so the files are the same on
    any engine, in any order. `INDEX_FILE` in `folder` lists them, one row per class explained.

    Parameters
    ----------
    model : ClassifierModel
        The model `evaluation` was made with.
    evaluation : Evaluation
    positions : sequence of int
        The images to explain (`Evaluation.select`, a confusion-matrix cell, ...).
    request : ExplainRequest
        The method and its parameters; its seed is combined with each image's.
    folder : str or Path
    options : SaveOptions
    engine : LocalEngine or RayEngine, optional
        Where the images are explained; a `LocalEngine` by default.
    progress : callable, optional
        ``progress(done, total)``, images.
    time_left : callable, optional
        ``time_left(seconds)``, estimated from the images done so far.
    cancelled : callable, optional
        ``cancelled() -> bool``, checked between images.
    on_image, on_failure : callable, optional
        ``on_image(ImageExplained)`` and ``on_failure(path, message)`` as each image ends (in the
        order the engine finishes them).

    Returns
    -------
    SelectionExplained
        With ``cancelled`` set when `cancelled()` stopped it; the index then lists what was finished.
    """
    engine = engine or LocalEngine()
    folder = Path(folder)
    positions = [int(p) for p in positions]
    tasks = [_Task(p, evaluation.paths[p], tuple(image_targets(evaluation, p)), image_request(request, evaluation, p),
                   folder / evaluation.paths[p].parent.name, options) for p in positions]
    total = len(tasks)
    results = [None] * total
    done, started = 0, time.perf_counter()
    if progress:
        progress(0, total)

    def on_result(index, result):
        nonlocal done
        results[index] = result
        done += 1
        if isinstance(result, ImageExplained):
            if on_image:
                on_image(result)
        elif on_failure:
            on_failure(tasks[index].path, result)
        if progress:
            progress(done, total)
        if time_left:
            time_left((time.perf_counter() - started) / done * (total - done))

    stopped = False
    try:
        engine.map(model, _explain_task, tasks, on_result=on_result, cancelled=cancelled or (lambda: False))
    except Cancelled:
        stopped = True
    images = tuple(r for r in results if isinstance(r, ImageExplained))
    failures = tuple((task.path, r) for task, r in zip(tasks, results) if isinstance(r, str))
    index = folder / INDEX_FILE
    _write_index(index, evaluation, images)
    return SelectionExplained(images, failures, index, cancelled=stopped)


def _explain_task(model, task: _Task, cancelled=None):
    """Explain and save one image (on whichever engine runs it): an ImageExplained, or why it failed.

    `cancelled` (the local engine's; a Ray worker has none) stops the explanation midway by raising
    `limelight.core.errors.Cancelled`, before anything of the image is written.
    """
    from limelight.core.images import load_image

    info = model_info(model)
    options = task.options
    try:
        # Refused before the explanation is computed, not after.
        for target in task.targets:
            export_paths(task.folder, task.path, target, info, task.request.method, image_format=options.image_format,
                         figure=options.figure, force=options.force)
        photo = load_image(task.path)
        explanations = explain(photo, model, task.request, target=list(task.targets), cancelled=cancelled)
        sanity = {target: check_sanity(photo, model, explanation, task.request, target=target,
                                       random_state=task.request.seed, cancelled=cancelled)
                  for target, explanation in explanations.items()} if options.sanity else {}
        task.folder.mkdir(parents=True, exist_ok=True)
        written_for = {}
        files = {target: export(photo, explanation, info, target=target, photo_path=task.path, folder=task.folder,
                                style=options.style, image_format=options.image_format, caption=options.caption,
                                figure=options.figure, sanity=sanity.get(target), force=options.force,
                                written_for=written_for)
                 for target, explanation in explanations.items()}
    except OSError as error:
        return f"{task.folder}: cannot write there ({error.strerror})"
    except LimelightError as error:
        return str(error) if error.path else f"{task.path}: {error}"
    return ImageExplained(task.position, task.path, explanations, files, sanity)


def _write_index(path: Path, evaluation: Evaluation, images) -> None:
    names = evaluation.label_names
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(INDEX_COLUMNS)
            for image in images:
                true, predicted = int(evaluation.true[image.position]), int(evaluation.predicted[image.position])
                for target, files in image.files.items():
                    writer.writerow([str(image.path), names[true], names[predicted],
                                     f"{evaluation.confidence[image.position]:.6f}", names[target],
                                     "predicted" if target == predicted else "true", str(files[0]), str(files[1])])
    except OSError as error:
        raise DatasetError(f"cannot write the index ({error.strerror})", path=path) from None
