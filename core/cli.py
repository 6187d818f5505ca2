"""The headless command line: `limelight predict`, `limelight models` and friends."""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from limelight.core.dataset_cli import add_dataset_arguments, add_evaluate_command
from limelight.core.errors import LimelightError, one_line

SUBCOMMANDS = ("predict", "explain", "evaluate", "info", "layers", "models")
METHODS = ("lime", "gradcam", "gradcam++", "scorecam")
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
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
                         help="lime (superpixels, a few hundred to 4000 model calls) or a class activation map "
                              "(about one call; scorecam one per channel)")
    which = explain.add_mutually_exclusive_group()
    which.add_argument("--top-labels", type=int, default=1, metavar="K",
                       help="explain the K most probable classes (default 1)")
    which.add_argument("--label", action="append", metavar="NAME_OR_INDEX",
                       help="explain this class (repeatable), e.g. --label 'Egyptian cat'")
    lime = explain.add_argument_group("LIME")
    lime.add_argument("--samples", type=_samples, default="auto", metavar="auto|N",
                      help="perturbed images to sample; auto (default) stops when the top 5 "
                           "superpixels are stable (0.9) or at --max-samples")
    lime.add_argument("--max-samples", type=int, default=4000, metavar="N",
                      help="the most samples --samples auto draws (default 4000)")
    lime.add_argument("--batch-size", type=int, default=48, metavar="N",
                      help="perturbed images built per step (default 48)")
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
    explain.add_argument("--faithfulness", action=argparse.BooleanOptionalAction,
                         help="measure deletion and insertion AUC over superpixels (about 100 model "
                              "calls; default: on for LIME, off for Grad-CAM)")
    display = explain.add_argument_group("display")
    display.add_argument("--display", choices=("outline", "block", "heatmap"),
                         help="outline (default for LIME), block, or heatmap (default for CAM)")
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
    add_dataset_arguments(explain)
    explain.set_defaults(run=run_explain)

    add_evaluate_command(commands, _add_model_arguments)

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

    if args.only:
        from limelight.core.dataset_cli import run_explain_folder

        return run_explain_folder(args, _explain_classes)
    if args.class_name:
        raise LimelightError("--class applies to a labelled folder with --only wrong|correct|all")
    style = _overlay_style(args)
    hide = _hide_mode(args.hide)
    model = open_model(args)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LimelightError(f"cannot create the output folder ({error.strerror})",
                             path=out_dir) from None
    failures = 0
    # What this run wrote: --force replaces files of earlier runs, never a file of this one
    # (two photos called cat.jpg in two folders would otherwise leave one set of results).
    written_here = {}
    for path in args.images:
        try:
            photo = load_image(path)
            written = _explain_one(args, model, path, photo, style, hide, out_dir, written_here)
        except LimelightError as error:
            # A batch run must say which image failed, also when the engine's message names none.
            print(f"limelight: {error}" if error.path else f"limelight: {path}: {error}", file=sys.stderr)
            failures += 1
            continue
        print("\n".join(written), flush=True)
    return EXIT_BAD_INPUT if failures else 0


def _explain_classes(args, model, path, labels, out_dir) -> list[str]:
    """Explain these classes of one photo into `out_dir`: the one-photo path `explain FOLDER --only` calls."""
    from limelight.core.images import load_image

    args.label = [str(label) for label in labels]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return _explain_one(args, model, path, load_image(path), _overlay_style(args), _hide_mode(args.hide),
                        Path(out_dir), {})


def _explain_one(args, model, path, photo, style, hide, out_dir, written_here) -> list[str]:
    from limelight.core.overlay import render
    from limelight.core.report import output_paths, save_annotated, save_figure, save_report

    image = model.prepare(photo)
    if args.label:
        labels = [model.labels.find(name) for name in args.label]
    else:
        if args.top_labels < 1:
            raise LimelightError("--top-labels must be at least 1")
        probabilities = model.predict(image[None])[0]
        labels = [int(i) for i in np.argsort(probabilities)[::-1][:args.top_labels]]
    targets = []
    for label in labels:
        paths = output_paths(out_dir, path, model.labels.name(label), label, args.method, extension=args.format)
        for key in ("image", "json", "arrays", "figure") if args.figure else ("image", "json", "arrays"):
            if paths[key] in written_here:
                raise LimelightError(f"{paths[key]} was written for {written_here[paths[key]]} earlier in this run; "
                                     "give the images different names or explain them one --out folder each")
            if not args.force and paths[key].exists():
                raise LimelightError(f"{paths[key]} already exists; pass --force to overwrite")
        targets.append((label, paths))

    progress = ProgressBar(f"{Path(path).name}")
    if args.method == "lime":
        explanations = dict.fromkeys(labels, _explain_lime(args, model, image, labels, hide,
                                                           progress))
    else:
        explanations = {}
        for label in labels:
            explanations[label] = _explain_cam(args, model, image, label, hide, progress)
    progress.close()

    framed = model.frame(photo)
    written = []
    for label, paths in targets:
        explanation = explanations[label]
        print(trust_line(path, model.labels.name(label), explanation, label), flush=True)
        for doubt in getattr(explanation, "warnings", ()) if label == targets[0][0] else ():
            print(f"limelight: {path}: {doubt}", file=sys.stderr, flush=True)
        rendered = render(framed, explanation, label, style)
        if args.caption:
            rendered = _with_caption(rendered, explanation, label, style, model)
        save_annotated(paths["image"], rendered, force=args.force)
        save_report(paths["json"], explanation, image_path=str(path), model_name=model.source,
                    preprocessing=model.preprocessing, label_names=model.labels.names,
                    style=style, force=args.force)
        written_here.update(dict.fromkeys(paths.values(), path))
        written += [str(paths["image"]), str(paths["json"])]
        if args.figure:
            save_figure(paths["figure"], framed, explanation, label, style,
                        label_name=model.labels.name(label), force=args.force)
            written.append(str(paths["figure"]))
    return written


def _with_caption(rendered, explanation, label, style, model):
    from limelight.core.caption import caption_lines, render_with_caption
    from limelight.core.overlay import heatmap_scale

    lines = caption_lines(explanation, label, label_name=model.labels.name(label), model_name=model.name)
    scale = heatmap_scale(explanation, label, style) if style.display == "heatmap" else None
    return render_with_caption(rendered, lines, scale=scale)


def _explain_lime(args, model, image, labels, hide, progress):
    from limelight.core.lime import explain_lime

    segments, params = _segment(args, image)
    return explain_lime(image, model.predict, segments=segments, labels=labels,
                        num_samples=args.samples, max_samples=args.max_samples,
                        batch_size=args.batch_size, hide=hide,
                        kernel_width=args.kernel_width, random_state=args.seed,
                        segmentation={"method": args.segmentation, **params},
                        faithfulness=args.faithfulness is not False, progress=progress)


def _segment(args, image):
    """The superpixels of --segmentation, and every parameter that made them."""
    from limelight.core.segmentation import segment, segmentation_params

    params = {}
    if args.segments is not None:
        if args.segmentation not in ("slic", "grid"):
            raise LimelightError("--segments applies to --segmentation slic or grid; quickshift "
                                 "and felzenszwalb find their own number of superpixels")
        params["n_segments"] = args.segments
    params = segmentation_params(image, method=args.segmentation, **params)
    return segment(image, method=args.segmentation, **params), params


def _explain_cam(args, model, image, label, hide, progress):
    from limelight.core.cam import explain_cam

    layer = args.layer
    if layer is not None and layer.isdigit():
        layer = int(layer)
    explanation = explain_cam(image, model, method=args.method, target=label, layer=layer,
                              use_logits=not args.no_logits, relu=not args.signed,
                              counterfactual=args.counterfactual, resample=args.resample,
                              progress=progress)
    if args.faithfulness:
        from limelight.core.lime import PredictionCache
        from limelight.core.scores import add_faithfulness

        # Superpixels from --segmentation, ranked by the map's mean inside each.
        segments, _ = _segment(args, image)
        cache = PredictionCache(model.predict, image, segments, hide=hide)
        explanation = add_faithfulness(explanation, cache, [label])
    return explanation


def trust_line(path, name: str, explanation, label: int) -> str:
    """One line saying how far to trust an explanation: samples, stability, fit, a tie, deletion and insertion AUC."""
    from limelight.core.scores import describe_tie, fit_word

    parts = [f"{Path(path).name}  {name}  {explanation.kind.upper()}"]
    if explanation.kind == "lime":
        stability = explanation.stability[label]
        hint = f" ({stability.hint})" if stability.hint else ""
        fit = explanation.scores[label]
        parts.append(f"{explanation.num_samples} samples  stability {stability.summary}{hint}  "
                     f"fit R² {fit:.2f} {fit_word(fit)}")
        tie = describe_tie(explanation.weights[label], stability.k, tie_delta=stability.tie_delta)
        if tie:
            parts.append(tie)
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
    if args.method == "lime" and args.threshold is None and args.num_features is None:
        options["num_features"] = 5  # lime's own examples show the top 5 superpixels
    return OverlayStyle(**options)


def _hide_mode(text: str):
    if "," not in text:
        return text
    try:
        colour = tuple(int(c) for c in text.split(","))
    except ValueError:
        colour = ()
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise LimelightError(f"--hide colour '{text}' must be three numbers 0-255, e.g. 255,0,255")
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
