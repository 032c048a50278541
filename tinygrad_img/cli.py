"""The main job: ``python -m tinygrad_img train`` (console script ``tinygrad-img``).

With no arguments it trains the articles' MNIST CNN on the bundled digits
(resampled to 28x28) with Adam (initial rate 2e-3, half-cosine decay over 6
epochs), prints the test accuracy and writes the checkpoint, the training
curves, the confusion matrix and a metrics.json into ``--out``.
``bench`` forwards its arguments to ``tinygrad_img.bench.main``. Bad
arguments exit non-zero with a one-line explanation (no traceback).
"""
import argparse
import json
import math
import os
import sys
import time

MODELS = ("seed-cnn", "mlp", "seed-cifar-cnn")
DATASETS = ("digits", "mnist", "cifar10", "shapes")
DEFAULT_EPOCHS = {"digits": 6, "shapes": 8, "mnist": 3, "cifar10": 5}


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line on stderr and exits with status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class UsageError(Exception):
    """A problem with the command line or its inputs, reported in one line."""


def build_parser():
    parser = _Parser(prog="tinygrad-img", description="Train and benchmark tinygrad_img models.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    train = sub.add_parser("train", help="train a model and report its test accuracy")
    train.add_argument("--dataset", choices=DATASETS, default="digits",
                       help="digits (bundled, 28x28), mnist/cifar10 (local files in --data-dir), shapes (synthetic)")
    train.add_argument("--data-dir", default=None,
                       help="folder with the MNIST IDX files or CIFAR-10 batches, or a Keras mnist.npz file")
    train.add_argument("--model", choices=MODELS, default=None,
                       help="seed-cnn (the articles' MNIST CNN), mlp, seed-cifar-cnn (default: by dataset)")
    train.add_argument("--epochs", type=int, default=None, help="default: 6 digits, 8 shapes, 3 mnist, 5 cifar10")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=2e-3,
                       help="Adam's initial learning rate, decayed to 0 over the epochs by a half cosine")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    train.add_argument("--augment", action="store_true", help="random rotation/shift (and flips for RGB data)")
    train.add_argument("--out", default=None, help="output folder (default runs/<dataset>-<model>-<time>)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    bench = sub.add_parser("bench", help="CPU vs GPU kernel comparison (tinygrad_img.bench)", add_help=False)
    bench.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def load_data(dataset, data_dir):
    """(x_train, y_train), (x_test, y_test): float32 channels-last images in [0, 1]."""
    from .data import datasets as ds
    if dataset in ("mnist", "cifar10"):
        if data_dir is None:
            raise UsageError(f"--dataset {dataset} reads local files: pass --data-dir pointing at them")
        npz = dataset == "mnist" and data_dir.endswith(".npz")
        if not (os.path.isfile(data_dir) if npz else os.path.isdir(data_dir)):
            raise UsageError(f"--data-dir {data_dir!r} is not " + ("a file" if npz else "a directory"))
        loader = ds.load_mnist if dataset == "mnist" else ds.load_cifar10
        return loader(data_dir, channels_last=True)
    if data_dir is not None:
        raise UsageError(f"--dataset {dataset} does not read files; drop --data-dir")
    if dataset == "digits":
        return ds.load_digits(size=28, channels_last=True)
    return ds.make_shapes(n=2000, size=32, channels_last=True)


def build_model(name, input_shape, num_classes, augment=False):
    """The named Keras model (see SEEDS.md 'Models and code the articles show')."""
    from .keras import Sequential, layers
    stack = [layers.Input(shape=input_shape)]
    if augment:
        stack += [layers.RandomRotation(10 / 360), layers.RandomTranslation(0.1, 0.1)]
        if input_shape[-1] == 3:
            stack.append(layers.RandomFlip("horizontal"))
    if name == "seed-cnn":
        stack += [layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                  layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                  layers.Flatten(), layers.Dense(64, activation="relu")]
    elif name == "seed-cifar-cnn":
        stack += [layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                  layers.Conv2D(64, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                  layers.Conv2D(64, (3, 3), activation="relu"), layers.Flatten(),
                  layers.Dense(64, activation="relu")]
    elif name == "mlp":
        stack += [layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(64, activation="relu")]
    else:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    stack.append(layers.Dense(num_classes, activation="softmax"))
    return Sequential(stack, name=name)


def cosine_lr(base, epoch, epochs):
    """lr_e = base * (1 + cos(pi * e / E)) / 2: full rate first, near zero in the last epoch."""
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def train(args):
    import tinygrad_img as tg
    from . import metrics
    from .keras import callbacks, optimizers

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    if args.batch_size < 1 or args.lr <= 0:
        raise UsageError("--batch-size and --lr must be positive")
    if args.device == "cuda" and not tg.cuda_available():
        raise UsageError("--device cuda: no working CuPy + NVIDIA GPU here; use --device cpu")
    model_name = args.model or ("seed-cifar-cnn" if args.dataset in ("cifar10", "shapes") else "seed-cnn")
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    tg.manual_seed(args.seed)
    (x, y), (xt, yt) = load_data(args.dataset, args.data_dir)
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    num_classes = int(max(y.max(), yt.max()) + 1)
    out = args.out or os.path.join("runs", f"{args.dataset}-{model_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(out, exist_ok=True)

    model = build_model(model_name, x.shape[1:], num_classes, args.augment)
    model.to(args.device)
    model.compile(optimizer=optimizers.Adam(learning_rate=args.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if args.verbose:
        model.summary()
        print(f"training {model_name} on {args.dataset}: {len(x)} train / {len(xt)} test images, "
              f"{epochs} epochs, batch {args.batch_size}, device {args.device}")
    start, cpu_start = time.perf_counter(), time.process_time()
    schedule = callbacks.LearningRateScheduler(lambda epoch: cosine_lr(args.lr, epoch, epochs))
    history = model.fit(x, y, epochs=epochs, batch_size=args.batch_size, validation_data=(xt, yt),
                        verbose=args.verbose, callbacks=[schedule])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    pred = model.predict(xt, batch_size=256).argmax(axis=1)
    report = {"dataset": args.dataset, "model": model_name, "epochs": len(history.epoch),
              "train_seconds": round(seconds, 2), "train_cpu_seconds": round(cpu_seconds, 2),
              "test_accuracy": metrics.accuracy(yt, pred),
              "macro_precision": metrics.precision(yt, pred, num_classes=num_classes),
              "macro_recall": metrics.recall(yt, pred, num_classes=num_classes),
              "macro_f1": metrics.f1_score(yt, pred, num_classes=num_classes)}
    paths = {"checkpoint": os.path.join(out, "model.safetensors"),
             "curves": os.path.join(out, "training_curves.png"),
             "confusion": os.path.join(out, "confusion_matrix.png"),
             "report": os.path.join(out, "metrics.json")}
    model.save(paths["checkpoint"])
    history.plot(paths["curves"], title=f"{model_name} on {args.dataset}")
    metrics.plot_confusion_matrix(metrics.confusion_matrix(yt, pred, num_classes=num_classes), paths["confusion"],
                                  title=f"{model_name} on {args.dataset}: test confusion matrix")
    with open(paths["report"], "w", encoding="utf-8") as f:
        json.dump({**report, "history": history.history}, f, indent=2)
    print(f"test accuracy: {report['test_accuracy']:.4f} (macro F1 {report['macro_f1']:.4f}) "
          f"after {report['epochs']} epochs in {seconds:.1f} s")
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0


def bench(argv):
    from . import bench as bench_module   # imported on demand: it pulls in the kernels
    return bench_module.main(argv) or 0


def main(argv=None):
    """Entry point of ``tinygrad-img`` and ``python -m tinygrad_img``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = "bench" if argv[:1] == ["bench"] else "train"
    try:
        if command == "bench":   # forwarded whole: argparse.REMAINDER would drop leading options like --quick
            return bench(argv[1:])
        if argv[:1] not in (["train"], ["-h"], ["--help"]):
            argv = ["train"] + argv   # "train" is the default command
        return train(build_parser().parse_args(argv))
    except (UsageError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        message = " ".join(str(e).split())
        print(f"tinygrad-img {command}: error: {message}", file=sys.stderr)
        return 1
