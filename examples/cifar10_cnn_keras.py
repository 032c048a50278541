"""The articles' CIFAR-10 CNN with validation data and a history plot (SEEDS.md model 2).

Source program: the survey articles' Keras CIFAR-10 example - three Conv2D
layers (32, 64, 64) with two MaxPooling2D, Flatten, Dense(64), Dense(10);
``history = model.fit(..., validation_data=(test_images, test_labels))`` and
the accuracy curves plotted from ``history.history``. The original ends with
Dense(10) and ``SparseCategoricalCrossentropy(from_logits=True)``, kept here.

Without ``--data-dir`` (the folder holding CIFAR-10's python batches) it
trains on the synthetic 32x32x3 shapes set, since nothing can be downloaded.

    python examples/cifar10_cnn_keras.py [--epochs 5] [--data-dir DIR] [--out history.png] [--quick]
"""
import argparse

import tinygrad_img as tg
from tinygrad_img.data.datasets import make_shapes
from tinygrad_img.keras import datasets, layers, losses, models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 python batches (default: synthetic shapes)")
    parser.add_argument("--out", default="cifar10_history.png", help="where to write the accuracy plot")
    parser.add_argument("--quick", action="store_true", help="one epoch on 128 images (smoke test)")
    args = parser.parse_args(argv)
    tg.manual_seed(0)

    if args.data_dir:
        (train_images, train_labels), (test_images, test_labels) = datasets.cifar10.load_data(args.data_dir)
        train_images, test_images = train_images / 255.0, test_images / 255.0
    else:
        (train_images, train_labels), (test_images, test_labels) = make_shapes(n=1000, size=32, channels_last=True)
    if args.quick:
        args.epochs = 1
        train_images, train_labels, test_images, test_labels = (train_images[:128], train_labels[:128],
                                                                test_images[:64], test_labels[:64])

    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10))
    model.summary()

    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(train_images, train_labels, epochs=args.epochs,
                        validation_data=(test_images, test_labels))
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)
    history.plot(args.out, title="CIFAR-10 CNN: accuracy and loss")
    print(f"Test accuracy: {test_acc:.4f}; history plot written to {args.out}")
    return test_acc


if __name__ == "__main__":
    main()
