"""The worker's typed jobs (what the window asks for) and results (what the worker answers)."""
from dataclasses import dataclass
from typing import Any

import numpy as np

from limelight.core.pipeline import ExplainRequest

#: The `model` of an ExplainResult read from a saved report: this prefix and the report's path.
REPORT_PREFIX = "report:"
#: Add samples continues a LIME run with this many times its samples, rounded up to a hundred.
ADD_SAMPLES_FACTOR = 1.5


# --- Jobs: what the window asks for ---------------------------------------------------------

@dataclass(frozen=True)
class LoadModel:
    """Load a model: ``builtin:<name>`` or a path, with the user's trust and feeding choices.

    A file that would run code loads only when `trust` is set (the --trust-model flag) or its
    content's SHA-256 is among `trusted_hashes`; otherwise the answer is a TrustRequired.
    """

    source: str
    trust: bool = False
    preprocessing: str | None = None
    labels_path: str | None = None
    resize: str | None = None
    trusted_hashes: frozenset = frozenset()


@dataclass(frozen=True, eq=False)
class Predict:
    """The top `k` classes of one photo."""

    model: str
    path: str
    image: np.ndarray
    k: int = 5


@dataclass(frozen=True, eq=False)
class ComparePreprocessing:
    """The top classes of one photo under every preprocessing mode, to ask which one a model takes."""

    model: str
    path: str
    image: np.ndarray
    k: int = 3


@dataclass(frozen=True, eq=False)
class SegmentPreview:
    """The superpixels LIME would use, drawn on the part of the photo the model sees."""

    model: str
    path: str
    image: np.ndarray
    method: str
    params: tuple = ()


@dataclass(frozen=True, eq=False)
class Explain:
    """Explain one photo with the method and parameters of `request`."""

    model: str
    path: str
    image: np.ndarray
    request: ExplainRequest
    target: int | None = None


@dataclass(frozen=True, eq=False)
class Continue:
    """Go on from a LIME explanation (an ExplainResult) with its samples: more of them, or another class.

    Samples the worker has predicted before cost nothing: adding samples sends only the new ones
    to the model, and another class with as many samples only its faithfulness curves.
    """

    model: str
    image: np.ndarray
    result: Any
    target: int
    num_samples: int


@dataclass(frozen=True, eq=False)
class CheckSanity:
    """The sanity check of a result's explanation (an ExplainResult) for its class (limelight.core.sanity)."""

    model: str
    image: np.ndarray
    result: Any


@dataclass(frozen=True)
class OpenReport:
    """Read a saved JSON report and the photo it explains, without a model."""

    path: str


@dataclass(frozen=True, eq=False)
class ExplainAll:
    """Explain every photo in `paths` for its top class and write annotated images and reports."""

    model: str
    paths: tuple
    request: Any
    style: Any
    folder: str
    overwrite: bool = False


@dataclass(frozen=True, eq=False)
class EvaluateDataset:
    """Predict every image of a labelled folder (a core Dataset) and measure the model with the class mapping.

    Predictions kept in the prediction store from an earlier run are not predicted again.
    """

    model: str
    dataset: Any
    mapping: Any


@dataclass(frozen=True, eq=False)
class ExplainWhy:
    """Why the model predicted one image's class, and why not its true class: one run for both.

    `evaluation` is a core Evaluation and `position` the image's place in it; the image's seed
    comes from its content, as the command line's (limelight.core.selection.image_request).
    """

    model: str
    evaluation: Any
    position: int
    request: ExplainRequest


@dataclass(frozen=True, eq=False)
class ExplainSelection:
    """Explain images of an evaluation (their predicted and true classes) and save them with an index CSV.

    As `limelight explain FOLDER --only ...` does: limelight.core.selection.explain_selection.
    """

    model: str
    evaluation: Any
    positions: tuple
    request: ExplainRequest
    style: Any
    folder: str
    overwrite: bool = False


@dataclass(frozen=True)
class Versions:
    """The library versions and compute device, for Help > About."""


# --- Results: what the worker answers -------------------------------------------------------

@dataclass(frozen=True)
class TrustRequired:
    """The model file would run code; the user must say they trust this content (`sha256`)."""

    source: str
    reason: str
    sha256: str


@dataclass(frozen=True)
class Predictions:
    model: str
    path: str
    top: tuple


@dataclass(frozen=True)
class PreprocessingChoices:
    """Each preprocessing mode with the photo's top classes under it: ((mode, top), ...)."""

    model: str
    path: str
    current: str
    choices: tuple


@dataclass(frozen=True, eq=False)
class SegmentPreviewResult:
    model: str
    path: str
    method: str
    params: tuple
    rendered: np.ndarray
    count: int


@dataclass(frozen=True, eq=False)
class ExplainResult:
    """An explanation and the part of the photo it covers (`frame`, original resolution)."""

    model: str
    path: str
    request: Any
    target: int
    frame: np.ndarray
    explanation: Any
    seconds: float


@dataclass(frozen=True, eq=False)
class WhyResult:
    """An ExplainWhy's answer: the photo and one ExplainResult per class, the predicted one first."""

    photo: np.ndarray
    results: tuple


@dataclass(frozen=True)
class BatchResult:
    written: tuple
    failures: tuple
    cancelled: bool = False


def more_samples(num_samples: int) -> int:
    """The sample count Add samples continues a LIME run with: half as many again, in hundreds."""
    return -(-int(num_samples * ADD_SAMPLES_FACTOR) // 100) * 100
