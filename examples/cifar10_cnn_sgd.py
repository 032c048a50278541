"""A CIFAR-10 CNN trained with SGD and categorical cross-entropy on one-hot labels
(SEEDS.md model 3).

Source program: the survey articles' Keras CIFAR-10 example that one-hot encodes
the labels with ``to_categorical``, ends with Dense(128, relu) - Dense(10, softmax)
and compiles with ``optimizer=SGD(learning_rate=0.01, momentum=0.9)`` and
``loss="categorical_crossentropy"``.

Without ``--data-dir`` (CIFAR-10's python batches) it trains on the synthetic
32x32x3 shapes set.

    python examples/cifar10_cnn_sgd.py [--epochs 5] [--data-dir DIR] [--quick]
"""
import argparse

import tinygrad_img as tg
from tinygrad_img.data.datasets import make_shapes
from tinygrad_img.keras import datasets, layers, models, optimizers
from tinygrad_img.keras.utils import to_categorical


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 python batches (default: synthetic shapes)")
    parser.add_argument("--quick", action="store_true", help="one epoch on 128 images (smoke test)")
    args = parser.parse_args(argv)
    tg.manual_seed(0)

    if args.data_dir:
        (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data(args.data_dir)
        x_train, x_test = x_train.astype("float32") / 255.0, x_test.astype("float32") / 255.0
    else:
        (x_train, y_train), (x_test, y_test) = make_shapes(n=1000, size=32, channels_last=True)
    if args.quick:
        args.epochs, x_train, y_train, x_test, y_test = 1, x_train[:128], y_train[:128], x_test[:64], y_test[:64]
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    model = models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", padding="same", input_shape=(32, 32, 3)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_data=(x_test, y_test))
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {acc:.4f} (loss {loss:.4f})")
    return acc


if __name__ == "__main__":
    main()
