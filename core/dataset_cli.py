"""The command line's labelled-folder commands: `limelight evaluate` and the folder form of `limelight explain`."""
import argparse
import csv
import json
import sys
from pathlib import Path

from limelight.core.errors import LimelightError

ENGINES = ("local", "ray")
#: The file `explain FOLDER --only ...` writes beside the explanations: one row per explained class.
INDEX_FILE = "explained.csv"


def add_evaluate_command(commands, add_model_arguments) -> None:
    """Register `limelight evaluate FOLDER` on the CLI's subcommands."""
    evaluate = commands.add_parser(
        "evaluate", help="predict a labelled folder (one sub-folder per class): accuracy, confusion "
                         "matrix, per-class scores, predictions CSV and confusion PNG")
    evaluate.add_argument("folder", metavar="FOLDER")
    add_model_arguments(evaluate)
    add_dataset_arguments(evaluate)
    evaluate.add_argument("--out", default=".", metavar="DIR",
                          help=f"where predictions.csv, confusion.png and evaluation.json go (default: here)")
    evaluate.add_argument("--force", action="store_true", help="overwrite existing output files")
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON instead of tables")
    evaluate.set_defaults(run=run_evaluate)


def add_dataset_arguments(parser) -> None:
    """The options every labelled-folder command takes: class mapping, batch and engine."""
    group = parser.add_argument_group("labelled folder")
    group.add_argument("--class-map", action="append", default=[], metavar="FOLDER=CLASS",
                       help="map a class folder to a model class (name or index) by hand; repeatable")
    group.add_argument("--eval-batch-size", type=_positive, metavar="N",
                       help="images per forward pass when predicting the folder (default: the model's)")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local (this machine) or ray (a Ray cluster; pip install 'limelight[ray]')")
    group.add_argument("--address", metavar="ADDR",
                       help="the Ray cluster to join, e.g. ray://head:10001 or auto (default: start one here)")
    group.add_argument("--workers", type=_positive, metavar="N",
                       help="Ray actors, each loading the model once and sharing the CPUs (default: one per "
                            "node, with all its CPUs)")


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def evaluate_folder(args, model, *, progress):
    """Scan, map and predict the folder the command names: the `Evaluation`, predictions kept in the user's cache."""
    from limelight.core.dataset import PredictionStore, evaluate, match_classes, scan_dataset

    dataset = scan_dataset(args.folder)
    chosen = dict(_class_map(text, model) for text in args.class_map)
    mapping = match_classes(dataset.folders, model.labels.names, chosen=chosen)
    for line in mapping.describe():
        print(f"limelight: {line}", file=sys.stderr)
    return evaluate(model, dataset, mapping=mapping, engine=make_engine(args),
                    store=PredictionStore.default(), batch_size=args.eval_batch_size, progress=progress)


def make_engine(args):
    """The prediction engine the command asks for."""
    from limelight.core.dataset import LocalEngine

    if args.engine == "local":
        if args.address or args.workers:
            raise LimelightError("--address and --workers apply to --engine ray")
        return LocalEngine()
    from limelight.core.ray_engine import RayEngine

    return RayEngine(address=args.address, workers=args.workers, trust=args.trust_model)


def _class_map(text: str, model):
    folder, separator, name = text.partition("=")
    if not separator or not folder or not name:
        raise LimelightError(f"--class-map '{text}' must be FOLDER=CLASS, e.g. --class-map kitten=cat")
    return folder, model.labels.find(name)


def run_evaluate(args) -> int:
    from limelight.core.cli import ProgressBar, open_model
    from limelight.core.dataset import write_evaluation

    model = open_model(args)
    progress = ProgressBar(f"evaluate {Path(args.folder).name}")
    try:
        evaluation = evaluate_folder(args, model, progress=progress)
    finally:
        progress.close()
    written = write_evaluation(evaluation, args.out, force=args.force)
    for path, reason in evaluation.failures:
        print(f"limelight: {path}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps({**evaluation.summary(), "files": [str(p) for p in written]}, indent=2))
    else:
        print(evaluation_text(evaluation))
        print("\n".join(str(p) for p in written))
    return 2 if evaluation.failures else 0


def evaluation_text(evaluation) -> str:
    """Accuracy, the confusion matrix and scikit-learn's classification report, as the terminal shows them."""
    wrong = int((~evaluation.correct).sum())
    matrix, columns = evaluation.confusion()
    rows = evaluation.column_names(evaluation.classes)
    names = evaluation.column_names(columns)
    first = max(map(len, rows))
    widths = [max(len(n), 5) for n in names]
    lines = [f"{evaluation.model_name}: accuracy {evaluation.accuracy:.1%} ({len(evaluation.paths) - wrong} of "
             f"{len(evaluation.paths)} images; {wrong} wrong)", "",
             "confusion matrix (rows: true class, columns: predicted class)",
             " " * first + "  " + "  ".join(n.rjust(w) for n, w in zip(names, widths))]
    for name, counts in zip(rows, matrix):
        lines.append(name.ljust(first) + "  " + "  ".join(str(c).rjust(w) for c, w in zip(counts, widths)))
    return "\n".join([*lines, "", evaluation.report().rstrip(), ""])


def run_explain_folder(args, explain_image) -> int:
    """Explain the wrong, correct or all images of a labelled folder: the predicted class, and the true one where it differs.

    Each explanation goes to ``OUT/<class folder>/`` as `explain` writes it, and `INDEX_FILE` lists
    them. `explain_image(args, model, path, labels, out_dir)` is the one-photo explain path, a
    module-level function (Ray workers import it); it returns the written files, the annotated
    image first and its report second, per class. Each image's seed comes from its content, so
    the results are the same on any engine and in any order.
    """
    from limelight.core.cli import ProgressBar, open_model
    from limelight.core.dataset import image_seed

    if len(args.images) != 1 or not Path(args.images[0]).is_dir():
        raise LimelightError("--only takes one labelled folder (one sub-folder per class), not image files")
    if args.label:
        raise LimelightError("--only explains each image's predicted and true class; drop --label")
    args.folder = args.images[0]
    model = open_model(args)
    progress = ProgressBar(f"evaluate {Path(args.folder).name}")
    try:
        evaluation = evaluate_folder(args, model, progress=progress)
    finally:
        progress.close()
    selected = evaluation.select(args.only, class_name=args.class_name)
    print(f"limelight: explaining {len(selected)} of {len(evaluation.paths)} images ({args.only})", file=sys.stderr)
    out = Path(args.out)
    tasks = []
    for position in selected:
        path = evaluation.paths[position]
        one = argparse.Namespace(**vars(args))
        one.seed = image_seed(evaluation.digests[position], args.seed)
        labels = list(dict.fromkeys([int(evaluation.predicted[position]), int(evaluation.true[position])]))
        tasks.append((explain_image, one, path, labels, out / path.parent.name))
    results = [None] * len(tasks)

    def on_result(index, result):
        results[index] = result
        if isinstance(result, LimelightError):
            path = tasks[index][2]
            print(f"limelight: {result}" if result.path else f"limelight: {path}: {result}", file=sys.stderr)
        else:
            print("\n".join(result), flush=True)

    make_engine(args).map(model, explain_task, tasks, on_result=on_result, cancelled=lambda: False)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / INDEX_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", "predicted", "confidence", "explained", "why", "image", "report"])
        for position, (_, one, path, labels, _), written in zip(selected, tasks, results):
            if isinstance(written, LimelightError):
                continue
            true, predicted = int(evaluation.true[position]), int(evaluation.predicted[position])
            step = 3 if args.figure else 2
            for label, start in zip(labels, range(0, len(written), step)):
                writer.writerow([str(path), model.labels.name(true), model.labels.name(predicted),
                                 f"{evaluation.confidence[position]:.6f}", model.labels.name(label),
                                 "predicted" if label == predicted else "true", *written[start:start + 2]])
    print(out / INDEX_FILE)
    failed = sum(isinstance(r, LimelightError) for r in results)
    return 2 if failed or evaluation.failures else 0


def explain_task(model, task):
    """Run one image's explanation, as an engine calls it: the written files, or the error that stopped it."""
    explain_image, args, path, labels, out_dir = task
    try:
        return explain_image(args, model, path, labels, out_dir)
    except LimelightError as error:
        return error
