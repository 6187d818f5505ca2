"""Labelled image folders: scan one, map its class folders to a model's classes, predict it all, and measure the model."""
import csv
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from limelight.core.errors import Cancelled, DatasetError, ImageError
from limelight.core.files import open_regular_file
from limelight.core.images import list_images, load_model_input

#: How a class folder was matched to a model class, in the words shown to the user.
MATCH_RULES = {
    "name": "by name (case, spaces and punctuation ignored)",
    "sorted order": "by sorted order, as Keras' image_dataset_from_directory assigns indices",
    "set by hand": "set by hand",
}
#: What `select` picks from an evaluation.
SELECTIONS = ("wrong", "correct", "all")
#: The name of the confusion matrix column that gathers predictions of classes the dataset has no folder for.
OTHER_CLASSES = "(other classes)"
PREDICTIONS_FILE = "predictions.csv"
CONFUSION_FILE = "confusion.png"
SUMMARY_FILE = "evaluation.json"
DISAGREEMENTS_FILE = "disagreements.csv"
# Batches decoded ahead of the model: enough that the model never waits for a decoder.
_PREFETCH_BATCHES = 3
# SQLite refuses statements with more variables than this in old releases.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Dataset:
    """A folder with one sub-folder per class, as Keras' image_dataset_from_directory and torchvision's ImageFolder read it.

    Attributes
    ----------
    root : Path
    folders : tuple of str
        The class folders' names, sorted as Keras sorts them.
    paths : tuple of Path
        Every supported image under a class folder (sub-folders included), sorted.
    folder_index : ndarray of shape (len(paths),), int
        The position in `folders` of each image's class folder.
    """

    root: Path
    folders: tuple
    paths: tuple
    folder_index: np.ndarray

    def __len__(self):
        return len(self.paths)


def scan_dataset(root) -> Dataset:
    """Find the class folders and their images under `root`.

    Hidden folders (names starting with ".") are skipped, as are files of other types.

    Raises
    ------
    DatasetError
        For a missing folder, a folder without class folders, or class folders without images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("not a folder" if root.exists() else "folder not found", path=root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError("has no class folders; a labelled dataset holds one sub-folder of images "
                           "per class (root/cat/1.jpg, root/dog/2.jpg)", path=root)
    paths, folder_index = [], []
    for index, folder in enumerate(folders):
        images = [p for p in list_images(root / folder)
                  if not any(part.startswith(".") for part in p.relative_to(root).parts)]
        paths += images
        folder_index += [index] * len(images)
    if not paths:
        raise DatasetError(f"its {len(folders)} class folders hold no images Limelight reads", path=root)
    return Dataset(root=root, folders=tuple(folders), paths=tuple(paths),
                   folder_index=_frozen(np.array(folder_index, dtype=np.int64)))


@dataclass(frozen=True)
class ClassMapping:
    """Which model class each class folder stands for, and by which rule (a key of `MATCH_RULES`).

    Attributes
    ----------
    folders : tuple of str
    classes : tuple of int
        The model's class index for each folder.
    rules : tuple of str
        How each folder was matched.
    label_names : tuple of str
        The model's class names, by index.
    """

    folders: tuple
    classes: tuple
    rules: tuple
    label_names: tuple

    def class_of(self, folder: str) -> int:
        return self.classes[self.folders.index(folder)]

    def describe(self) -> list[str]:
        """One line per folder: folder -> class [index] (rule)."""
        return [f"{folder} -> {self.label_names[index]} [{index}] ({MATCH_RULES[rule]})"
                for folder, index, rule in zip(self.folders, self.classes, self.rules)]

    def with_classes(self, chosen: dict) -> "ClassMapping":
        """This mapping with some folders set by hand: `chosen` maps a folder name to a class index."""
        unknown = set(chosen) - set(self.folders)
        if unknown:
            raise DatasetError(f"no class folder named '{sorted(unknown)[0]}'; the folders are "
                               f"{', '.join(self.folders)}")
        classes = tuple(int(chosen.get(f, c)) for f, c in zip(self.folders, self.classes))
        rules = tuple("set by hand" if f in chosen else r for f, r in zip(self.folders, self.rules))
        return ClassMapping(self.folders, _checked_classes(classes, self.label_names), rules,
                            self.label_names)


def match_classes(folders, label_names, *, chosen=None) -> ClassMapping:
    """Map class folders to a model's classes: by name where every folder names a class; by sorted order
    where none does and there are as many folders as classes.

    Sorted order never overrides a folder that names a class: with the classes' names in some other
    order it would map that folder to another class.

    Parameters
    ----------
    folders : sequence of str
        Sorted class folder names (`Dataset.folders`).
    label_names : sequence of str
        The model's class names, by index.
    chosen : dict of str to int, optional
        Folders the user mapped by hand; the others are matched by name.

    Raises
    ------
    DatasetError
        When some folders name no class and sorted order cannot apply (other folders match by
        name or were set by hand, or the counts differ); the message names the folders.
    """
    folders, label_names, chosen = tuple(folders), tuple(label_names), dict(chosen or {})
    by_name = name_matches(folders, label_names)
    classes, unmatched = [], []
    for folder in folders:
        if folder in chosen:
            classes.append(chosen[folder])
        elif folder in by_name:
            classes.append(by_name[folder])
        else:
            unmatched.append(folder)
    if not unmatched:
        rules = tuple("set by hand" if f in chosen else "name" for f in folders)
        return ClassMapping(folders, _checked_classes(tuple(classes), label_names), rules, label_names)
    if not chosen and not by_name and len(folders) == len(label_names):
        return ClassMapping(folders, tuple(range(len(folders))), ("sorted order",) * len(folders),
                            label_names)
    shown = ", ".join(f"'{f}'" for f in unmatched[:3]) + (" ..." if len(unmatched) > 3 else "")
    matched = len(folders) - len(unmatched)
    why = (f"the other {matched} are matched by name or by hand, so sorted order would contradict them" if matched else
           f"{len(folders)} folders for {len(label_names)} classes rule out sorted order")
    raise DatasetError(f"class folders {shown} name none of the model's {len(label_names)} classes, and {why}; "
                       "name the folders after the classes or map them by hand (--class-map FOLDER=CLASS)")


def name_matches(folders, label_names) -> dict:
    """The folders that name exactly one of the model's classes (case, spaces and punctuation ignored).

    A folder name cannot hold a slash, so Fashion-MNIST's 'T-shirt/top' is found as 'T-shirt_top' too.

    Returns
    -------
    dict of str to int
        Folder name to class index, for the folders matched.
    """
    by_name = {}
    for index, name in enumerate(label_names):
        by_name.setdefault(_name_key(name), []).append(index)
    return {folder: by_name[_name_key(folder)][0] for folder in folders
            if len(by_name.get(_name_key(folder), ())) == 1}


def _name_key(name: str) -> str:
    return re.sub(r"[\W_]+", "", str(name).casefold())


def _checked_classes(classes: tuple, label_names: tuple) -> tuple:
    bad = [c for c in classes if not 0 <= c < len(label_names)]
    if bad:
        raise DatasetError(f"class index {bad[0]} is out of range; the model has {len(label_names)} classes")
    return classes


class PredictionStore:
    """Predictions kept on disk per (model content, image content), so a run only predicts what is new.

    One SQLite file; every call opens its own connection, so any thread or process may use it.

    Parameters
    ----------
    path : Path
        The database file; its folder is created when needed.
    """

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def default(cls) -> "PredictionStore":
        """The store in the user's cache folder ($LIMELIGHT_CACHE_DIR, else ~/.cache/limelight)."""
        from limelight.core.zoo import cache_dir

        return cls(cache_dir() / "predictions.sqlite")

    def get(self, model_key: str, digests) -> dict:
        """The kept probabilities of these images under this model: {digest: ndarray of float32}."""
        digests = list(dict.fromkeys(digests))
        if not self.path.is_file() or not digests:
            return {}
        found = {}
        with self._connect() as connection:
            for start in range(0, len(digests), _LOOKUP_CHUNK):
                chunk = digests[start:start + _LOOKUP_CHUNK]
                rows = connection.execute(
                    f"SELECT image, probabilities FROM predictions WHERE model = ? AND image IN "
                    f"({','.join('?' * len(chunk))})", [model_key, *chunk])
                found.update((image, np.frombuffer(blob, dtype=np.float32)) for image, blob in rows)
        connection.close()
        return found

    def put(self, model_key: str, digests, probabilities) -> None:
        """Keep the probabilities (rows of an (N, classes) array) of N images under this model."""
        rows = [(model_key, d, np.asarray(p, dtype=np.float32).tobytes())
                for d, p in zip(digests, probabilities)]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                connection.executemany("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?)", rows)
            connection.close()
        except (OSError, sqlite3.Error):
            pass  # an unwritable cache costs a prediction next time, nothing else

    def _connect(self):
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("CREATE TABLE IF NOT EXISTS predictions (model TEXT, image TEXT, "
                           "probabilities BLOB, PRIMARY KEY (model, image))")
        return connection


def model_key(model) -> str:
    """A SHA-256 of everything a model's predictions depend on: architecture, weights, input and preprocessing."""
    from limelight.core.runtime import model_digest

    digest = hashlib.sha256(model_digest(model.keras_model, (*model.input_size, model.channels)).encode())
    digest.update(f"{model.preprocessing}|{model.settings.resize}|{model.head}".encode())
    return digest.hexdigest()


def image_digest(path) -> str:
    """The SHA-256 of an image file's bytes: a prediction is kept per content, not per path."""
    with open_regular_file(path, error=ImageError) as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def prepare_batch(model, paths):
    """Decode and resize images for the model, skipping the unreadable ones.

    Returns
    -------
    kept : list of int
        Positions in `paths` of the images in `images`.
    images : ndarray of shape (len(kept), rows, cols, 3), uint8
    failures : list of (int, str)
        Position and one-line reason of each unreadable image.
    """
    kept, failures = [], []
    # Filled in place: stacking the images afterwards would copy each once more.
    batch = np.empty((len(paths), *model.input_size, 3), np.uint8)
    for position, path in enumerate(paths):
        try:
            batch[len(kept)] = load_model_input(path, model.input_size, model.settings.resize)
            kept.append(position)
        except ImageError as error:
            failures.append((position, error.reason))
    return kept, batch[:len(kept)], failures


def predict_batch(model, paths):
    """`prepare_batch`, then the model's probabilities: (kept, probabilities, failures)."""
    kept, images, failures = prepare_batch(model, paths)
    probabilities = model.predict(images) if len(images) else np.empty((0, model.num_classes), np.float32)
    return kept, probabilities, failures


class LocalEngine:
    """Predicts on this machine: a thread pool decodes and resizes the next batches while the model runs one."""

    name = "local"

    def __init__(self, *, threads=None):
        self.threads = threads or min(4, os.cpu_count() or 1)

    def run(self, model, paths, *, batch_size, on_batch, cancelled):
        """Predict `paths` batch by batch, calling ``on_batch(positions, probabilities, failures)`` for each.

        Raises
        ------
        Cancelled
            When `cancelled()` turns true; batches already passed to `on_batch` stay done.
        """
        starts = iter(range(0, len(paths), batch_size))
        pending = deque()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="limelight-decode",
                                initializer=_yield_to_the_model) as pool:
            def submit_next():
                start = next(starts, None)
                if start is not None:
                    pending.append((start, pool.submit(prepare_batch, model, paths[start:start + batch_size])))

            for _ in range(self.threads + _PREFETCH_BATCHES):
                submit_next()
            try:
                while pending:
                    if cancelled():
                        raise Cancelled()
                    start, future = pending.popleft()
                    submit_next()
                    kept, images, failures = future.result()
                    probabilities = (model.predict(images) if len(images)
                                     else np.empty((0, model.num_classes), np.float32))
                    on_batch([start + k for k in kept], probabilities,
                             [(start + p, reason) for p, reason in failures])
            finally:
                for _, future in pending:
                    future.cancel()

    @contextmanager
    def started(self, model):
        """Nothing to start here: the model is loaded already (the Ray engine starts its actors once per block)."""
        yield

    def map(self, model, function, items, *, on_result, cancelled):
        """Call ``function(model, item, cancelled=cancelled)`` for each item in turn, passing
        ``on_result(position, result)`` each; `function` polls `cancelled` inside an item too.

        Raises
        ------
        Cancelled
            When `cancelled()` turns true, between two items or inside one.
        """
        for position, item in enumerate(items):
            if cancelled():
                raise Cancelled()
            on_result(position, function(model, item, cancelled=cancelled))


def _yield_to_the_model():
    """Lower this decoding thread's priority, where the system allows it per thread (Linux).

    The model's runtime splits each layer over every core; a decoder that takes a core from one of
    its threads stalls the whole layer. At a lower priority decoders run in the gaps instead.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def predict_paths(model, paths, *, engine=None, store=None, batch_size=None, progress=None,
                  time_left=None, cancelled=None):
    """Class probabilities of image files, from the store where kept, else predicted by the engine.

    Parameters
    ----------
    model : ClassifierModel
    paths : sequence of Path
    engine : LocalEngine or RayEngine, optional
        Where the predictions run; a `LocalEngine` by default.
    store : PredictionStore, optional
        Where predictions are kept between runs; None keeps nothing.
    batch_size : int, optional
        Images per forward pass; the model's own by default.
    progress : callable, optional
        ``progress(done, total)``, images.
    time_left : callable, optional
        ``time_left(seconds)``, estimated from the images predicted so far (kept ones cost nothing).
    cancelled : callable, optional
        ``cancelled() -> bool``, checked between batches.

    Returns
    -------
    probabilities : ndarray of shape (len(paths), num_classes), float32
        NaN rows for the images that could not be read.
    digests : list of str or None
        Each image's content hash (None where unreadable).
    failures : list of (Path, str)
        Each unreadable image and why.
    """
    engine = engine or LocalEngine()
    paths = [Path(p) for p in paths]
    total = len(paths)
    probabilities = np.full((total, model.num_classes), np.nan, dtype=np.float32)
    failures = {}
    with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) * 2)) as pool:
        digests = list(pool.map(_digest_or_reason, paths))
    for position, digest in enumerate(digests):
        if isinstance(digest, ImageError):
            failures[position] = digest.reason
            digests[position] = None
    key = model_key(model) if store is not None else None
    kept = store.get(key, [d for d in digests if d]) if store is not None else {}
    for position, digest in enumerate(digests):
        if digest in kept and kept[digest].shape == (model.num_classes,):
            probabilities[position] = kept[digest]
    todo = [p for p, d in enumerate(digests) if d is not None and np.isnan(probabilities[p, 0])]
    done = total - len(todo)
    if progress:
        progress(done, total)
    started = time.perf_counter()
    predicted = 0

    def on_batch(positions, batch_probabilities, batch_failures):
        nonlocal done, predicted
        targets = [todo[p] for p in positions]
        probabilities[targets] = batch_probabilities
        for position, reason in batch_failures:
            failures[todo[position]] = reason
        if store is not None and targets:
            writer.submit(store.put, key, [digests[t] for t in targets], batch_probabilities)
        done += len(positions) + len(batch_failures)
        predicted += len(positions) + len(batch_failures)
        if progress:
            progress(done, total)
        if time_left:
            time_left((time.perf_counter() - started) / predicted * (total - done))

    if todo:
        # Each write waits for the disk (about 25 ms a batch), so it happens beside the model, not
        # in its way; leaving the block waits for the last writes, also when cancelled.
        with ThreadPoolExecutor(1, thread_name_prefix="limelight-store") as writer:
            engine.run(model, [paths[p] for p in todo], batch_size=batch_size or model.batch_size,
                       on_batch=on_batch, cancelled=cancelled or (lambda: False))
    return probabilities, digests, [(paths[p], failures[p]) for p in sorted(failures)]


def _digest_or_reason(path):
    try:
        return image_digest(path)
    except ImageError as error:
        return error


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on a labelled dataset; the arrays are read-only.

    Attributes
    ----------
    model_name : str
    mapping : ClassMapping
    paths : tuple of Path
        The images that could be read, in dataset order.
    digests : tuple of str
        Their content hashes (per-image seeds and the prediction store use them).
    true : ndarray of shape (n,), int
        Each image's true model class, from its folder through `mapping`.
    probabilities : ndarray of shape (n, num_classes), float32
    failures : tuple of (Path, str)
        The images that could not be read, and why.
    """

    model_name: str
    mapping: ClassMapping
    paths: tuple
    digests: tuple
    true: np.ndarray
    probabilities: np.ndarray
    failures: tuple

    @property
    def label_names(self) -> tuple:
        return self.mapping.label_names

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """The probability of the predicted class."""
        return self.probabilities.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.true

    @property
    def accuracy(self) -> float:
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(self.true, self.predicted))

    @property
    def classes(self) -> tuple:
        """The model classes the dataset has folders for, by index."""
        return tuple(sorted(set(self.mapping.classes)))

    def confusion(self, *, normalize=False):
        """The confusion matrix: rows are true classes, columns predicted ones (scikit-learn's).

        A last column, `OTHER_CLASSES`, gathers predictions of classes without a folder, when there are any.

        Returns
        -------
        matrix : ndarray of shape (classes, columns)
            Counts, or each row divided by its total when `normalize` (rows of no image stay 0).
        columns : tuple of int
            The model class index of each column (-1 for `OTHER_CLASSES`).
        """
        from sklearn.metrics import confusion_matrix

        classes = list(self.classes)
        predicted = np.where(np.isin(self.predicted, classes), self.predicted, -1)
        columns = classes + ([-1] if (predicted == -1).any() else [])
        matrix = confusion_matrix(self.true, predicted, labels=columns)[:len(classes)]
        if normalize:
            totals = matrix.sum(axis=1, keepdims=True)
            matrix = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        return matrix, tuple(columns)

    def column_names(self, columns) -> list[str]:
        return [OTHER_CLASSES if c == -1 else self.label_names[c] for c in columns]

    def per_class(self) -> list[dict]:
        """Precision, recall, F1 and support of each dataset class (scikit-learn's)."""
        from sklearn.metrics import precision_recall_fscore_support

        precision, recall, f1, support = precision_recall_fscore_support(
            self.true, self.predicted, labels=list(self.classes), zero_division=0)
        return [{"class": self.label_names[c], "index": int(c), "precision": float(p), "recall": float(r),
                 "f1": float(f), "support": int(s)}
                for c, p, r, f, s in zip(self.classes, precision, recall, f1, support)]

    def wrong(self) -> np.ndarray:
        """Positions of the wrong predictions, the most confident first."""
        positions = np.flatnonzero(~self.correct)
        return positions[np.argsort(-self.confidence[positions], kind="stable")]

    def select(self, only="wrong", *, class_name=None, predicted_as=None) -> np.ndarray:
        """Positions of the wrong, correct or all images, of one true class and one predicted class if given.

        Wrong ones come the most confident first; the others in dataset order.
        """
        if only not in SELECTIONS:
            raise DatasetError(f"unknown selection '{only}'; choose {', '.join(SELECTIONS)}")
        positions = (self.wrong() if only == "wrong"
                     else np.flatnonzero(self.correct) if only == "correct" else np.arange(len(self.paths)))
        for name, values in ((class_name, self.true), (predicted_as, self.predicted)):
            if name is not None:
                index = self._dataset_class(name)
                positions = positions[values[positions] == index]
        return positions

    def _dataset_class(self, name) -> int:
        from limelight.core.labels import Labels

        index = Labels(self.label_names, source="model").find(name)
        if index not in self.classes:
            raise DatasetError(f"'{self.label_names[index]}' is not one of this dataset's classes ("
                               + ", ".join(self.label_names[c] for c in self.classes) + ")")
        return index

    def summary(self) -> dict:
        """Accuracy, the confusion matrix, per-class scores and the mapping, as JSON-ready values."""
        matrix, columns = self.confusion()
        return {"model": self.model_name, "images": len(self.paths), "unreadable": len(self.failures),
                "accuracy": self.accuracy, "wrong": int((~self.correct).sum()),
                "mapping": [{"folder": f, "class": self.label_names[c], "index": int(c), "rule": r}
                            for f, c, r in zip(self.mapping.folders, self.mapping.classes, self.mapping.rules)],
                "confusion": {"rows": self.column_names(self.classes), "columns": self.column_names(columns),
                              "counts": matrix.tolist()},
                "per_class": self.per_class()}

    def report(self) -> str:
        """scikit-learn's classification report of the dataset's classes."""
        from sklearn.metrics import classification_report

        return classification_report(self.true, self.predicted, labels=list(self.classes),
                                     target_names=self.column_names(self.classes), zero_division=0)


def evaluate(model, dataset: Dataset, *, mapping: ClassMapping | None = None, **options) -> Evaluation:
    """Predict every image of a labelled dataset and keep what the metrics need.

    Parameters
    ----------
    model : ClassifierModel
    dataset : Dataset
    mapping : ClassMapping, optional
        Folder to class; `match_classes` by default (show it to the user: it may be by sorted order).
    **options
        `predict_paths`'s engine, store, batch_size, progress, time_left and cancelled.

    Raises
    ------
    Cancelled
        When `cancelled()` turns true; what was predicted so far is kept in the store.
    """
    mapping = mapping or match_classes(dataset.folders, model.labels.names)
    if mapping.folders != dataset.folders:
        raise DatasetError("the class mapping was made for other folders; match the classes again")
    probabilities, digests, failures = predict_paths(model, dataset.paths, **options)
    readable = np.flatnonzero([d is not None and not np.isnan(p[0]) for d, p in zip(digests, probabilities)])
    true = np.asarray(mapping.classes, dtype=np.int64)[dataset.folder_index[readable]]
    return Evaluation(model_name=model.name, mapping=mapping,
                      paths=tuple(dataset.paths[i] for i in readable),
                      digests=tuple(digests[i] for i in readable), true=_frozen(true),
                      probabilities=_frozen(probabilities[readable]), failures=tuple(failures))


def write_evaluation(evaluation: Evaluation, out_dir, *, compared: Evaluation | None = None,
                     force=False) -> list[Path]:
    """Save the predictions CSV, the confusion matrix PNG and the summary JSON into `out_dir`.

    With `compared` (another model on the same images), the PNG shows both models' matrices, the
    summary holds both, and `DISAGREEMENTS_FILE` lists the images where their predictions differ.

    Raises
    ------
    DatasetError
        When a file exists and `force` is false, or the folder cannot be written.
    """
    out_dir = Path(out_dir)
    paths = [out_dir / PREDICTIONS_FILE, out_dir / CONFUSION_FILE, out_dir / SUMMARY_FILE]
    if compared is not None:
        paths.append(out_dir / DISAGREEMENTS_FILE)
    for path in paths:
        if path.exists() and not force:
            raise DatasetError("already exists; pass --force to overwrite", path=path)
    summary = evaluation.summary()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_predictions_csv(paths[0], evaluation)
        save_confusion_png(paths[1], evaluation, *([compared] if compared is not None else []))
        if compared is not None:
            summary["compared"] = compared.summary()
            summary["disagreements"] = write_disagreements_csv(paths[3], evaluation, compared)
        paths[2].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise DatasetError(f"cannot write the results ({error.strerror})", path=out_dir) from None
    return paths


def write_disagreements_csv(path, first: Evaluation, second: Evaluation) -> int:
    """One row per image the two models predict differently; returns how many."""
    where = {image: i for i, image in enumerate(second.paths)}
    rows = disagreements(first, second)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", f"{first.model_name} predicted", f"{first.model_name} confidence",
                         f"{second.model_name} predicted", f"{second.model_name} confidence"])
        for i in rows:
            j = where[first.paths[i]]
            writer.writerow([str(first.paths[i]), first.label_names[first.true[i]],
                             first.label_names[first.predicted[i]], f"{first.confidence[i]:.6f}",
                             second.label_names[second.predicted[j]], f"{second.confidence[j]:.6f}"])
    return len(rows)


def write_predictions_csv(path, evaluation: Evaluation) -> None:
    """One row per image: path, true and predicted class, confidence, the true class's probability, correct."""
    names = evaluation.label_names
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", "predicted", "confidence", "true_probability", "correct"])
        for i, image in enumerate(evaluation.paths):
            true, predicted = evaluation.true[i], evaluation.predicted[i]
            writer.writerow([str(image), names[true], names[predicted], f"{evaluation.confidence[i]:.6f}",
                             f"{evaluation.probabilities[i, true]:.6f}", bool(evaluation.correct[i])])


def save_confusion_png(path, *evaluations: Evaluation) -> None:
    """Draw each evaluation's confusion matrix, counts and row-normalised, one row of two per evaluation."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(4.0, 0.6 * max(len(e.classes) for e in evaluations) + 2)
    figure = Figure(figsize=(2 * size, size * len(evaluations)), layout="constrained")
    axes = figure.subplots(len(evaluations), 2, squeeze=False)
    for row, evaluation in zip(axes, evaluations):
        for ax, normalize in zip(row, (False, True)):
            matrix, columns = evaluation.confusion(normalize=normalize)
            shown = np.zeros((len(columns), len(columns)))  # scikit-learn draws square matrices
            shown[:len(matrix)] = matrix
            display = ConfusionMatrixDisplay(shown, display_labels=evaluation.column_names(columns))
            display.plot(ax=ax, colorbar=False, xticks_rotation=45, values_format=".2f" if normalize else ".0f")
            ax.set_ylim(len(matrix) - 0.5, -0.5)
            ax.set_title(f"{evaluation.model_name}: " + ("row-normalised" if normalize else
                                                          f"counts (accuracy {evaluation.accuracy:.1%})"))
    figure.savefig(path, dpi=100)


def disagreements(first: Evaluation, second: Evaluation) -> np.ndarray:
    """Positions (in `first`) of the images both models saw and predicted differently."""
    position = {path: i for i, path in enumerate(second.paths)}
    return np.array([i for i, path in enumerate(first.paths)
                     if path in position and first.predicted[i] != second.predicted[position[path]]],
                    dtype=np.int64)


def image_seed(digest: str, random_state=None) -> int:
    """A seed for one image from its content and the run's seed: the same whatever the order or worker."""
    base = 0 if random_state is None else int(random_state)
    return int(np.random.SeedSequence([base, int(digest[:16], 16)]).generate_state(1)[0])


def _frozen(array):
    array.setflags(write=False)
    return array
