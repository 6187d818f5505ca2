"""The headless command line: `limelight predict`, `limelight models` and friends."""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from limelight.core.errors import LimelightError, one_line
from limelight.core.methods import DEFAULT_NOISE, METHODS

SUBCOMMANDS = ("predict", "explain", "evaluate", "info", "layers", "models")
#: The engines a labelled-folder command runs on.
ENGINES = ("local", "ray")
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    from limelight.core.scores import SAMPLE_BATCH_SIZE

    parser = argparse.ArgumentParser(
        prog="limelight",
        description="Explain image classifiers. Without a subcommand, opens the desktop app.")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser("predict", help="print the top classes of images")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    _add_model_arguments(predict)
    predict.add_argument("--top", type=int, default=5, metavar="K",
                         help="how many classes to print (default 5)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.set_defaults(run=run_predict)

    explain = commands.add_parser(
        "explain", help="explain predictions: write an annotated image and a JSON report per label")
    explain.add_argument("images", nargs="+", metavar="IMAGE")
    _add_model_arguments(explain)
    explain.add_argument("--method", choices=METHODS, default="lime",
                         help="lime, kernelshap or rise (superpixels, a few hundred to 4000 model calls), a "
                              "class activation map (about one pass; scorecam one per channel) or a gradient "
                              "map (gradients one pass, smoothgrad/smoothgrad-squared/vargrad 50, "
                              "integrated-gradients 33 to 1025)")
    which = explain.add_mutually_exclusive_group()
    which.add_argument("--top-labels", type=int, default=1, metavar="K",
                       help="explain the K most probable classes (default 1)")
    which.add_argument("--label", action="append", metavar="NAME_OR_INDEX",
                       help="explain this class (repeatable), e.g. --label 'Egyptian cat'")
    lime = explain.add_argument_group("LIME")
    lime.add_argument("--samples", type=_samples, default="auto", metavar="auto|N",
                      help="perturbed images to sample; auto (default) stops when the top 5 "
                           "superpixels are stable (0.9) or at --max-samples; for kernelshap and rise "
                           "auto is 1000 masks, for smoothgrad, smoothgrad-squared and vargrad 50 noisy copies")
    lime.add_argument("--max-samples", type=int, default=4000, metavar="N",
                      help="the most samples --samples auto draws (default 4000)")
    explain.add_argument("--batch-size", type=int, default=SAMPLE_BATCH_SIZE, metavar="N",
                         help=f"perturbed images sent to the model per step (default {SAMPLE_BATCH_SIZE})")
    lime.add_argument("--segmentation", default="quickshift",
                      choices=("quickshift", "slic", "felzenszwalb", "grid"),
                      help="superpixel algorithm (default quickshift, as Python lime)")
    lime.add_argument("--segments", type=int, metavar="N",
                      help="approximate number of superpixels (slic and grid)")
    lime.add_argument("--hide", default="mean", metavar="MODE",
                      help="how a switched-off superpixel is hidden: mean, blur, black, white, grey "
                           "or R,G,B (default mean)")
    lime.add_argument("--kernel-width", type=float, default=0.25, metavar="W",
                      help="width of the locality kernel (default 0.25)")
    lime.add_argument("--seed", type=int, metavar="S",
                      help="random seed; the same seed gives the same explanation")
    cam = explain.add_argument_group("Grad-CAM")
    cam.add_argument("--layer", metavar="NAME", help="layer to explain (default: the last "
                     "convolutional layer; see 'limelight layers')")
    cam.add_argument("--no-logits", action="store_true",
                     help="use the softmax probability instead of the pre-softmax score")
    cam.add_argument("--signed", action="store_true",
                     help="keep negative evidence (no ReLU on the map)")
    cam.add_argument("--counterfactual", action="store_true",
                     help="show what speaks against the class (negated gradients)")
    cam.add_argument("--resample", choices=("bilinear", "box", "lanczos"), default="bilinear",
                     help="how the layer-resolution map is upscaled (default bilinear)")
    gradients = explain.add_argument_group("gradient maps")
    gradients.add_argument("--baseline", default="black", metavar="MODE",
                           help="integrated-gradients' starting image: black (default), blur, white, grey "
                                "or R,G,B such as the --hide colour")
    gradients.add_argument("--noise", type=float, default=DEFAULT_NOISE, metavar="SHARE",
                           help=f"smoothgrad, smoothgrad-squared and vargrad: the noise's standard deviation as a "
                                f"share of the input range (default {DEFAULT_NOISE}; the paper uses 0.1 to 0.2); "
                                "--samples sets the noisy copies")
    explain.add_argument("--faithfulness", action=argparse.BooleanOptionalAction,
                         help="measure deletion and insertion AUC over superpixels (about 100 model "
                              "calls; default: on for LIME, off for Grad-CAM)")
    explain.add_argument("--sanity", action="store_true",
                         help="also check that the map depends on the model: randomise its layers from the top "
                              "and see the map change (LIME: 9 more LIME runs; Grad-CAM: 9 gradient passes)")
    display = explain.add_argument_group("display")
    display.add_argument("--display", choices=("outline", "block", "heatmap"),
                         help="outline (default for LIME and KernelSHAP), block, or heatmap (default for the "
                              "other methods)")
    shown = display.add_mutually_exclusive_group()
    shown.add_argument("--threshold", type=float, metavar="T",
                       help="show regions whose weight is at least T times the largest (0..1)")
    shown.add_argument("--num-features", type=int, metavar="K",
                       help="show the K regions with the largest weights")
    display.add_argument("--alpha", type=float, metavar="A", help="fill opacity 0..1")
    display.add_argument("--show-negative", action="store_true",
                         help="also show regions that speak against the class")
    display.add_argument("--hide-rest", action="store_true", help="fade everything not shown")
    display.add_argument("--colormap", metavar="NAME", help="matplotlib colormap for heatmaps")
    output = explain.add_argument_group("output")
    output.add_argument("--out", default=".", metavar="DIR", help="output folder (default: here)")
    output.add_argument("--format", default="png", choices=("png", "jpg", "webp", "tif"),
                        help="annotated image format (default png)")
    output.add_argument("--caption", action="store_true",
                        help="write the method, class, probability and trust scores (and a heatmap's "
                             "colour scale) under the annotated image")
    output.add_argument("--figure", action="store_true",
                        help="also save a side-by-side figure (original, explanation, mask)")
    output.add_argument("--force", action="store_true", help="overwrite existing output files")
    folder = explain.add_argument_group("labelled folder (explain FOLDER --only wrong)")
    folder.add_argument("--only", choices=("wrong", "correct", "all"),
                        help="explain these images of one labelled folder: the predicted class, and the true "
                             "class where they differ, into OUT/<class folder>/ with an index explained.csv")
    folder.add_argument("--class", dest="class_name", metavar="NAME",
                        help="with --only: only the images of this true class")
    _add_dataset_arguments(explain)
    explain.set_defaults(run=run_explain)

    evaluate = commands.add_parser(
        "evaluate", help="predict a labelled folder (one sub-folder per class): accuracy, confusion "
                         "matrix, per-class scores, predictions CSV and confusion PNG")
    evaluate.add_argument("folder", metavar="FOLDER")
    _add_model_arguments(evaluate)
    _add_dataset_arguments(evaluate)
    evaluate.add_argument("--out", default=".", metavar="DIR",
                          help="where predictions.csv, confusion.png and evaluation.json go (default: here)")
    evaluate.add_argument("--force", action="store_true", help="overwrite existing output files")
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON instead of tables")
    evaluate.add_argument("--compare", metavar="NAME|PATH",
                          help="also evaluate this model (with its own labels and preprocessing) and write both "
                               "confusion matrices and disagreements.csv, the images the two predict differently")
    evaluate.set_defaults(run=run_evaluate)

    layers = commands.add_parser("layers", help="list the layers Grad-CAM can explain")
    _add_model_arguments(layers)
    layers.set_defaults(run=run_layers)

    info = commands.add_parser("info", help="describe a model: input, classes, preprocessing, runtime")
    _add_model_arguments(info)
    info.set_defaults(run=run_info)

    models = commands.add_parser("models", help="list the built-in models")
    models.set_defaults(run=run_models)
    return parser


def _samples(text: str):
    """--samples: "auto" or a number; anything else goes on to the engine's own one-line refusal."""
    return int(text) if text.strip().isdigit() else text


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="efficientnet_lite0", metavar="NAME|PATH",
                        help="a built-in model name or a .keras/.h5 file or SavedModel folder")
    parser.add_argument("--labels", metavar="FILE", help="class names (.txt, .json or .csv)")
    parser.add_argument("--preprocess", metavar="MODE",
                        help="input preprocessing: none, unit, symmetric, caffe, torch, effnet_lite")
    parser.add_argument("--trust-model", action="store_true",
                        help="allow the model file to run code while loading (only for files "
                             "you trust)")


def _add_dataset_arguments(parser) -> None:
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


def evaluate_folder(args, model, *, engine, progress):
    """Scan, map and predict the folder the command names: the `Evaluation`, predictions kept in the user's cache."""
    from limelight.core.dataset import PredictionStore, evaluate, match_classes, scan_dataset

    dataset = scan_dataset(args.folder)
    chosen = dict(_class_map(text, model) for text in args.class_map)
    mapping = match_classes(dataset.folders, model.labels.names, chosen=chosen)
    for line in mapping.describe():
        print(f"limelight: {line}", file=sys.stderr)
    return evaluate(model, dataset, mapping=mapping, engine=engine,
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


def open_model(args):
    """The model named on the command line: a built-in name or a path."""
    from limelight.core.models import PREPROCESSING_MODES, load_model
    from limelight.core.zoo import BUILTIN_MODELS, load_builtin

    if args.model in BUILTIN_MODELS and not os.path.exists(args.model):
        return load_builtin(args.model)
    model = load_model(args.model, trust=args.trust_model, preprocessing=args.preprocess,
                       labels_path=args.labels)
    if model.settings.preprocessing_guessed:
        print(f"limelight: {args.model}: preprocessing assumed '{model.preprocessing}' "
              f"({PREPROCESSING_MODES[model.preprocessing]}); if the predictions look wrong, pass "
              "--preprocess MODE", file=sys.stderr)
    return model


def run_predict(args) -> int:
    from limelight.core.images import load_image

    if args.top < 1:
        raise LimelightError("--top must be at least 1")
    model = open_model(args)
    results, failures = [], 0
    for path in args.images:
        try:
            image = load_image(path)
        except LimelightError as error:
            print(f"limelight: {error}", file=sys.stderr)
            failures += 1
            continue
        top = model.top_classes(image, k=min(args.top, model.num_classes))
        results.append({"image": path, "model": model.name,
                        "labels_assumed": model.labels.assumed, "independent": model.independent,
                        "predictions": [{"index": i, "label": name, "probability": p}
                                        for i, name, p in top]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(_prediction_table(result))
    return EXIT_BAD_INPUT if failures else 0


def _prediction_table(result: dict) -> str:
    lines = [f"{result['image']}  ({result['model']})"]
    for rank, p in enumerate(result["predictions"], start=1):
        lines.append(f"  {rank}. {p['label']:<32} {p['probability'] * 100:6.2f}%  "
                     f"[{p['index']}]")
    if result["independent"]:
        lines.append("  (a multi-label model: each probability is its own, they need not sum to 100%)")
    if result["labels_assumed"]:
        lines.append("  (labels assumed to be ImageNet's: the model has 1000 classes and no "
                     "labels file)")
    return "\n".join(lines)


def run_explain(args) -> int:
    from limelight.core.images import load_image
    from limelight.core.pipeline import model_info

    if args.only:
        return run_explain_folder(args)
    if args.class_name:
        raise LimelightError("--class applies to a labelled folder with --only wrong|correct|all")
    request = explain_request(args)
    style = _overlay_style(args)
    model = open_model(args)
    info = model_info(model)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LimelightError(f"cannot create the output folder ({error.strerror})",
                             path=out_dir) from None
    failures = 0
    # What this run wrote: --force replaces files of earlier runs, never a file of this one
    # (two photos called cat.jpg in two folders would otherwise leave one set of results).
    written_for = {}
    for path in args.images:
        try:
            photo = load_image(path)
            written = _explain_one(args, model, info, request, path, photo, style, written_for)
        except LimelightError as error:
            # A batch run must say which image failed, also when the engine's message names none.
            print(f"limelight: {error}" if error.path else f"limelight: {path}: {error}", file=sys.stderr)
            failures += 1
            continue
        print("\n".join(written), flush=True)
    return EXIT_BAD_INPUT if failures else 0


def explain_request(args):
    """The `ExplainRequest` that `limelight explain`'s options ask for."""
    from limelight.core.pipeline import ExplainRequest

    params = {}
    if args.segments is not None:
        if args.segmentation not in ("slic", "grid"):
            raise LimelightError("--segments applies to --segmentation slic or grid; quickshift "
                                 "and felzenszwalb find their own number of superpixels")
        params["n_segments"] = args.segments
    layer = args.layer
    if layer is not None and layer.isdigit():
        layer = int(layer)
    return ExplainRequest(
        method=args.method, segmentation=args.segmentation, segmentation_params=params,
        num_samples=args.samples, max_samples=args.max_samples, batch_size=args.batch_size,
        hide=_hide_mode(args.hide), kernel_width=args.kernel_width, seed=args.seed, layer=layer,
        use_logits=not args.no_logits, relu=not args.signed, counterfactual=args.counterfactual,
        resample=args.resample, baseline=_hide_mode(args.baseline, option="--baseline"), noise=args.noise,
        faithfulness=args.faithfulness)


def _explain_one(args, model, info, request, path, photo, style, written_for) -> list[str]:
    from limelight.core.pipeline import PredictionCaches, check_sanity, explain, export, export_paths

    if args.label:
        targets = [model.labels.find(name) for name in args.label]
    else:
        if args.top_labels < 1:
            raise LimelightError("--top-labels must be at least 1")
        targets = [index for index, _, _ in model.top_classes(photo, k=min(args.top_labels, model.num_classes))]
    # Refused before the explanation is computed, not after.
    for target in targets:
        export_paths(args.out, path, target, info, args.method, image_format=args.format, figure=args.figure,
                     force=args.force, written_for=written_for)

    progress = ProgressBar(f"{Path(path).name}")
    # Kept for --sanity: LIME's random-class run on the same samples then costs no model call.
    caches = PredictionCaches(1)
    explanations = explain(photo, model, request, target=targets, caches=caches, progress=progress)
    progress.close()

    written = []
    for target, explanation in explanations.items():
        print(trust_line(path, info.class_name(target), explanation, target), flush=True)
        for doubt in getattr(explanation, "warnings", ()) if target == targets[0] else ():
            print(f"limelight: {path}: {doubt}", file=sys.stderr, flush=True)
        sanity = None
        if args.sanity:
            progress = ProgressBar(f"{Path(path).name} sanity")
            sanity = check_sanity(photo, model, explanation, request, target=target, random_state=args.seed,
                                  caches=caches, progress=progress)
            progress.close()
            print(f"{Path(path).name}  {info.class_name(target)}  {sanity.summary}", flush=True)
        files = export(photo, explanation, info, target=target, photo_path=path, folder=args.out, style=style,
                       image_format=args.format, caption=args.caption, figure=args.figure, sanity=sanity,
                       force=args.force, written_for=written_for)
        written += [str(files[0]), str(files[1]), *([str(files[3])] if args.figure else [])]
    return written


def trust_line(path, name: str, explanation, label: int) -> str:
    """One line saying how far to trust an explanation: samples, stability, fit, a tie, deletion and insertion AUC."""
    from limelight.core.methods import METHOD_TITLES
    from limelight.core.scores import describe_tie, fit_word

    parts = [f"{Path(path).name}  {name}  {METHOD_TITLES[explanation.method]}"]
    if explanation.kind == "lime":
        stability = explanation.stability[label]
        hint = f" ({stability.hint})" if stability.hint else ""
        fit = explanation.scores.get(label)  # RISE fits nothing
        parts.append(f"{explanation.num_samples} samples  stability {stability.summary}{hint}"
                     + ("" if fit is None else f"  fit R² {fit:.2f} {fit_word(fit)}"))
        tie = describe_tie(explanation.weights[label], stability.k, tie_delta=stability.tie_delta)
        if tie:
            parts.append(tie)
    elif explanation.kind == "gradient":
        stability = explanation.stability.get(label)
        if stability is None:
            parts.append(f"stability {explanation.stability_note}")
        else:
            hint = f" ({stability.hint})" if stability.hint else ""
            parts.append(f"{stability.num_samples} noisy copies  stability {stability.summary}{hint}")
    curves = explanation.faithfulness.get(label)
    if curves is not None:
        parts.append(f"deletion AUC {curves.deletion_auc:.3f}, insertion AUC {curves.insertion_auc:.3f} "
                     f"(random order {curves.random_auc:.3f})")
    return "  ".join(parts)


def _overlay_style(args):
    from limelight.core.overlay import OverlayStyle, natural_display

    display = args.display or natural_display(args.method)
    # A counterfactual map is negative evidence by construction, so it is shown as such.
    options = {"display": display, "show_negative": args.show_negative or args.counterfactual,
               "hide_rest": args.hide_rest}
    for option in ("threshold", "num_features", "alpha", "colormap"):
        if getattr(args, option) is not None:
            options[option] = getattr(args, option)
    if args.method in ("lime", "kernelshap") and args.threshold is None and args.num_features is None:
        options["num_features"] = 5  # lime's own examples show the top 5 superpixels
    return OverlayStyle(**options)


def _hide_mode(text: str, option="--hide"):
    if "," not in text:
        return text
    try:
        colour = tuple(int(c) for c in text.split(","))
    except ValueError:
        colour = ()
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise LimelightError(f"{option} colour '{text}' must be three numbers 0-255, e.g. 255,0,255")
    return colour


class ProgressBar:
    """A one-line progress bar on stderr, fed by the core's progress(done, total) callback."""

    WIDTH = 30

    def __init__(self, title: str):
        self.title = title
        self.started = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        filled = int(self.WIDTH * done / max(total, 1))
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (total - done) if done else 0.0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        print(f"\r{self.title} [{bar}] {done}/{total}  {elapsed:5.1f}s, ~{eta:4.1f}s left",
              end="", file=sys.stderr, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr, flush=True)
            self.shown = False


def run_layers(args) -> int:
    from limelight.core.cam import candidate_layers

    model = open_model(args)
    layers = candidate_layers(model)
    if not layers:
        raise LimelightError(f"{model.name} has no layer with a spatial (4-D) output; use "
                             "--method lime")
    for info in layers:
        print(f"{info.path:<48} {_shape(info.output_shape)}")
    return 0


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def run_info(args) -> int:
    model = open_model(args)
    rows, cols = model.input_size
    print(f"model          {model.name} ({model.source})")
    print(f"input          {cols} x {rows} {'RGB' if model.channels == 3 else 'gray'}")
    print(f"classes        {model.num_classes}")
    print(f"parameters     {model.parameter_count:,}")
    print(f"preprocessing  {model.preprocessing}{' (guessed)' if model.settings.preprocessing_guessed else ''}")
    print(f"runtime        {model.runtime.description}")
    return 0


def run_models(args) -> int:
    from limelight.core.zoo import BUILTIN_MODELS, weights_available

    for spec in BUILTIN_MODELS.values():
        ready = "available" if weights_available(spec.name) else "weights not downloaded"
        size = "x".join(map(str, spec.input_size))
        print(f"{spec.name:<20} {spec.title:<42} {size:<9} {spec.preprocessing:<12} {ready}")
    return 0


def run_evaluate(args) -> int:
    from limelight.core.dataset import write_evaluation

    evaluations = []
    for model_args in [args] + ([_compared_model_arguments(args)] if args.compare else []):
        model = open_model(model_args)
        progress = ProgressBar(f"evaluate {Path(args.folder).name} ({model.name})")
        try:
            evaluations.append(evaluate_folder(model_args, model, engine=make_engine(model_args), progress=progress))
        finally:
            progress.close()
    evaluation, compared = evaluations[0], (evaluations[1:] or [None])[0]
    written = write_evaluation(evaluation, args.out, compared=compared, force=args.force)
    for path, reason in evaluation.failures:
        print(f"limelight: {path}: {reason}", file=sys.stderr)
    if args.json:
        summary = json.loads(written[2].read_text(encoding="utf-8"))
        print(json.dumps({**summary, "files": [str(p) for p in written]}, indent=2))
    else:
        print("\n".join(evaluation_text(e) for e in evaluations))
        if compared is not None:
            from limelight.core.dataset import disagreements

            print(f"the two models disagree on {len(disagreements(evaluation, compared))} of "
                  f"{len(evaluation.paths)} images\n")
        print("\n".join(str(p) for p in written))
    return 2 if evaluation.failures else 0


def _compared_model_arguments(args):
    """The options of `evaluate --compare M`: the other model, with its own labels and preprocessing."""
    return argparse.Namespace(**{**vars(args), "model": args.compare, "labels": None, "preprocess": None})


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


def run_explain_folder(args) -> int:
    """Explain the wrong, correct or all images of a labelled folder: the predicted class, and the true one where it differs.

    `limelight.core.selection.explain_selection` does the work, as in the window; on Ray the actors
    that predict the folder then explain it.
    """
    from limelight.core.selection import SaveOptions, explain_selection

    if len(args.images) != 1 or not Path(args.images[0]).is_dir():
        raise LimelightError("--only takes one labelled folder (one sub-folder per class), not image files")
    if args.label:
        raise LimelightError("--only explains each image's predicted and true class; drop --label")
    args.folder = args.images[0]
    request, style = explain_request(args), _overlay_style(args)
    model = open_model(args)
    engine = make_engine(args)
    with engine.started(model):
        progress = ProgressBar(f"evaluate {Path(args.folder).name}")
        try:
            evaluation = evaluate_folder(args, model, engine=engine, progress=progress)
        finally:
            progress.close()
        selected = evaluation.select(args.only, class_name=args.class_name)
        print(f"limelight: explaining {len(selected)} of {len(evaluation.paths)} images ({args.only})",
              file=sys.stderr)

        def on_image(image):
            progress.close()
            for target, explanation in image.explanations.items():
                print(trust_line(image.path, model.labels.name(target), explanation, target), flush=True)
                if target in image.sanity:
                    print(f"{image.path.name}  {model.labels.name(target)}  {image.sanity[target].summary}")
            for doubt in getattr(next(iter(image.explanations.values())), "warnings", ()):
                print(f"limelight: {image.path}: {doubt}", file=sys.stderr, flush=True)
            # The annotated image, the report and the figure, as `explain` lists them.
            print("\n".join(str(f) for files in image.files.values() for f in [*files[:2], *files[3:]]), flush=True)

        def on_failure(path, message):
            progress.close()
            print(f"limelight: {message}", file=sys.stderr)

        progress = ProgressBar(f"explain {Path(args.folder).name}")
        try:
            result = explain_selection(
                model, evaluation, selected, request, folder=args.out, engine=engine,
                options=SaveOptions(style, image_format=args.format, caption=args.caption, figure=args.figure,
                                    sanity=args.sanity, force=args.force),
                progress=progress, on_image=on_image, on_failure=on_failure)
        finally:
            progress.close()
    print(result.index)
    return 2 if result.failures or evaluation.failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "models":
        from limelight.core.models import import_tensorflow

        import_tensorflow()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_in_one_line
            return args.run(args)
    except LimelightError as error:
        print(f"limelight: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("limelight: interrupted", file=sys.stderr)
        return 130


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a library's warning as one escaped line, without the source line Python quotes."""
    print(f"limelight: warning: {one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
