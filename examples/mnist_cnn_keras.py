"""The articles' MNIST CNN, Keras style (SEEDS.md model 1).

Source program: the survey articles' Keras MNIST example -
Conv2D(32, 3x3, relu) - MaxPooling2D(2) - Conv2D(64, 3x3, relu) - MaxPooling2D(2)
- Flatten - Dense(64, relu) - Dense(10, softmax), Adam, sparse categorical
cross-entropy, accuracy, fit(epochs, batch_size), evaluate -> (loss, accuracy).
Only the import lines differ from the Keras original.

Runs on the bundled handwritten digits resampled to 28x28 (MNIST's shape);
``--data-dir`` reads real MNIST IDX files instead.

    python examples/mnist_cnn_keras.py [--epochs 5] [--data-dir DIR] [--quick]
"""
import argparse

import tinygrad_img as tg
from tinygrad_img.keras import datasets, layers, models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-dir", default=None, help="folder with MNIST IDX files (default: bundled digits)")
    parser.add_argument("--quick", action="store_true", help="one epoch on 160 images (smoke test)")
    args = parser.parse_args(argv)
    tg.manual_seed(0)

    if args.data_dir:
        (train_images, train_labels), (test_images, test_labels) = datasets.mnist.load_data(args.data_dir)
    else:
        (train_images, train_labels), (test_images, test_labels) = datasets.digits.load_data()
    if args.quick:
        args.epochs, train_images, train_labels, test_images, test_labels = (1, train_images[:160], train_labels[:160],
                                                                            test_images[:100], test_labels[:100])
    train_images = train_images.reshape((-1, 28, 28, 1)).astype("float32") / 255
    test_images = test_images.reshape((-1, 28, 28, 1)).astype("float32") / 255

    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    model.summary()

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_images, train_labels, epochs=args.epochs, batch_size=args.batch_size)
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
    print(f"Test accuracy: {test_acc:.4f} (loss {test_loss:.4f})")
    return test_acc


if __name__ == "__main__":
    main()
