"""The headless command line: `limelight predict`, `limelight models` and friends."""
import argparse
import json
import os
import sys

from limelight.core.errors import LimelightError

SUBCOMMANDS = ("predict", "models")
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

    models = commands.add_parser("models", help="list the built-in models")
    models.set_defaults(run=run_models)
    return parser


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
    from limelight.core.models import load_model
    from limelight.core.zoo import BUILTIN_MODELS, load_builtin

    if args.model in BUILTIN_MODELS and not os.path.exists(args.model):
        return load_builtin(args.model)
    return load_model(args.model, trust=args.trust_model, preprocessing=args.preprocess,
                      labels_path=args.labels)


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
                        "labels_assumed": model.labels.assumed,
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
    if result["labels_assumed"]:
        lines.append("  (labels assumed to be ImageNet's: the model has 1000 classes and no "
                     "labels file)")
    return "\n".join(lines)


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
        return args.run(args)
    except LimelightError as error:
        print(f"limelight: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("limelight: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
