"""Class names: the shipped ImageNet list, user label files and the lookup of a class by name."""
import csv
import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from limelight.core.errors import LabelsError
from limelight.core.files import read_text
from limelight.resources import resource_path

LABEL_FILE_TYPES = (".txt", ".json", ".csv")


@dataclass(frozen=True)
class Labels:
    """The names of a model's classes, by output index.

    ``assumed`` is true when the names were not given for this model but
    guessed (1000 outputs and no labels file: ImageNet).
    """

    names: tuple[str, ...]
    source: str
    assumed: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return self.names[index]

    def find(self, query) -> int:
        """Return the class index for an index or a name (case-insensitive).

        Raises
        ------
        LabelsError
            For an index out of range, or an unknown name; the message suggests
            the closest names.
        """
        text = str(query).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(self.names):
                raise LabelsError(f"class index {index} is out of range; the model has "
                                  f"{len(self.names)} classes (0 to {len(self.names) - 1})")
            return index
        lowered = [n.lower() for n in self.names]
        matches = [i for i, name in enumerate(lowered) if name == text.lower()]
        if len(matches) > 1:
            # Guessing one of two classes would explain the wrong one without a word.
            raise LabelsError(f"'{text}' names {len(matches)} classes ("
                              + ", ".join(f"{i} '{self.names[i]}'" for i in matches)
                              + "); give the class index instead")
        if matches:
            return matches[0]
        close = difflib.get_close_matches(text.lower(), lowered, n=3, cutoff=0.5)
        hint = ("; did you mean " + ", ".join(f"'{self.names[lowered.index(c)]}'" for c in close)
                + "?") if close else ""
        raise LabelsError(f"no class named '{text}'{hint}")


def index_labels(num_classes: int) -> Labels:
    """Names that are just the class indices, for a model without a labels file."""
    return Labels(tuple(f"class {i}" for i in range(num_classes)), source="indices")


@lru_cache(maxsize=1)
def imagenet_labels() -> Labels:
    """The 1000 ImageNet-1k class names shipped with Limelight (never downloaded)."""
    with resource_path("imagenet_classes.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return Labels(tuple(row["name"] for row in rows), source="imagenet")


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The WordNet ids of the ImageNet-1k classes, by index."""
    with resource_path("imagenet_classes.tsv").open(encoding="utf-8") as handle:
        return tuple(row["wnid"] for row in csv.DictReader(handle, delimiter="\t"))


def load_labels(path) -> Labels:
    """Read a labels file.

    ``.txt``: one name per line. ``.json``: a list of names, or an
    ``{index: name}`` map. ``.csv``: one name per row (first column), or
    ``index,name`` rows; a header row is skipped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LABEL_FILE_TYPES:
        raise LabelsError(f"labels must be a {', '.join(LABEL_FILE_TYPES)} file", path=path)
    text = read_text(path, error=LabelsError, encoding="utf-8-sig")
    if suffix == ".txt":
        names = [line.strip() for line in text.splitlines() if line.strip()]
    elif suffix == ".json":
        names = _names_from_json(text, path)
    else:
        names = _names_from_csv(text, path)
    if not names:
        raise LabelsError("labels file has no names", path=path)
    return Labels(tuple(names), source=str(path))


def labels_beside(model_path) -> Path | None:
    """The labels file found next to a model: ``<model>.labels.txt``, then ``labels.txt``.

    A link there that leads out of the model's folder is passed over, as a sidecar's would be.
    """
    model_path = Path(model_path)
    stem = model_path.name if model_path.is_dir() else model_path.stem
    folder = model_path.parent.resolve()
    for candidate in (model_path.parent / f"{stem}.labels.txt", model_path.parent / "labels.txt"):
        if candidate.is_file() and candidate.resolve().parent == folder:
            return candidate
    return None


def labels_for_model(num_classes: int, *, labels_path=None, model_path=None) -> Labels:
    """Choose the labels of a model: an explicit file, a file beside the model, or a guess.

    A label count that doesn't match the model is an error. A 1000-class
    model without labels gets the ImageNet names, marked as assumed.
    """
    path = labels_path or (labels_beside(model_path) if model_path else None)
    if path is not None:
        labels = load_labels(path)
        if len(labels) != num_classes:
            raise LabelsError(f"has {len(labels)} names but the model has {num_classes} classes",
                              path=path)
        return labels
    if num_classes == 1000:
        return Labels(imagenet_labels().names, source="imagenet", assumed=True)
    return index_labels(num_classes)


def _names_from_json(text: str, path: Path) -> list[str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LabelsError(f"is not valid JSON ({error.msg} at line {error.lineno})",
                          path=path) from None
    except RecursionError:
        raise LabelsError("is not a labels file (JSON nested too deeply)", path=path) from None
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return [n.strip() for n in data]
    if isinstance(data, dict):
        try:
            by_index = {int(k): str(v).strip() for k, v in data.items()}
        except ValueError:
            raise LabelsError("JSON map keys must be class indices", path=path) from None
        if sorted(by_index) != list(range(len(by_index))):
            raise LabelsError("JSON map must have the indices 0 to N-1, each once", path=path)
        return [by_index[i] for i in range(len(by_index))]
    raise LabelsError("JSON labels must be a list of names or an {index: name} map", path=path)


def _names_from_csv(text: str, path: Path) -> list[str]:
    try:
        rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    except csv.Error as error:  # a field over the csv module's size limit, a NUL byte...
        raise LabelsError(f"is not a readable CSV file ({error})", path=path) from None
    if rows and len(rows[0]) >= 2 and not rows[0][0].strip().isdigit():
        rows = rows[1:]  # a header such as "index,name"
    elif rows and len(rows[0]) == 1 and rows[0][0].strip().lower() in ("name", "label", "class"):
        rows = rows[1:]
    if rows and all(len(r) >= 2 and r[0].strip().isdigit() for r in rows):
        by_index = {int(r[0]): r[1].strip() for r in rows}
        if sorted(by_index) != list(range(len(by_index))):
            raise LabelsError("CSV indices must be 0 to N-1, each once", path=path)
        return [by_index[i] for i in range(len(by_index))]
    return [r[0].strip() for r in rows]
