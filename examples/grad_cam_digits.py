"""Grad-CAM heat maps of where a small CNN looks when it reads the bundled digits.

Article technique: explainability with Grad-CAM (Selvaraju et al., 2017), named in SEEDS.md.
A small CNN (three 3x3 conv - ReLU layers with two max-pools, global average pool, Linear) is
trained with Adam and cross-entropy on the digits resampled to 16x16 (``--size``); then
``tg.explain.grad_cam`` weights the last convolution's activation maps A_k by their
global-average-pooled gradients alpha_k = mean_ij d y_c / d A_k(i, j) of the predicted class
score y_c, keeps relu(sum_k alpha_k A_k), upsamples it to the image size, and
``tg.explain.overlay`` blends it over each test digit. It prints the test accuracy and
writes the digits (true / predicted label) above their overlays to a PNG.

    python examples/grad_cam_digits.py [--epochs 15] [--size 16] [--out grad_cam_digits.png] [--quick]
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tinygrad_img as tg  # noqa: E402
import tinygrad_img.functional as F  # noqa: E402
from tinygrad_img import nn, optim  # noqa: E402
from tinygrad_img.data import DataLoader, TensorDataset  # noqa: E402
from tinygrad_img.data.datasets import load_digits  # noqa: E402
from tinygrad_img.explain import grad_cam, overlay  # noqa: E402


class SmallCNN(nn.Module):
    """features (conv 16 - ReLU - pool - conv 32 - ReLU - pool - conv 64 - ReLU) -> global average
    pool -> Linear. Grad-CAM reads the last ReLU's maps (``features[7]``, 64 x size/4 x size/4); the
    global-average-pooled head makes each class score a sum over positions, so the maps localise."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def accuracy(model, x, y):
    model.eval()
    with tg.no_grad():
        return float((model(tg.Tensor(x)).numpy().argmax(axis=1) == y).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--size", type=int, default=16, help="digit image size, divisible by 4 (28 = MNIST's)")
    parser.add_argument("--images", type=int, default=8, help="test digits to explain")
    parser.add_argument("--out", default="grad_cam_digits.png")
    parser.add_argument("--quick", action="store_true", help="3 epochs on the native 8x8 digits (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.size = 3, 8
    if args.size % 4:
        parser.error(f"--size must be divisible by 4, got {args.size}")
    tg.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits(size=args.size)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    model = SmallCNN()
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        model.train()
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{args.epochs}: last batch loss {loss.item():.4f}, "
              f"test accuracy {accuracy(model, x_test, y_test):.4f}")

    x = x_test[:args.images]
    heat = grad_cam(model, x, target_layer=model.features[-1]).numpy()
    with tg.no_grad():
        predicted = model(tg.Tensor(x)).numpy().argmax(axis=1)
    fig, axes = plt.subplots(2, len(x), figsize=(1.3 * len(x), 3), squeeze=False)
    for i in range(len(x)):
        axes[0][i].imshow(x[i, 0], cmap="gray_r", vmin=0, vmax=1)
        axes[0][i].set_title(f"{y_test[i]} / {predicted[i]}", fontsize=8)
        axes[1][i].imshow(overlay(1.0 - x[i, 0], heat[i], alpha=0.5))
        for ax in (axes[0][i], axes[1][i]):
            ax.axis("off")
    fig.suptitle("Grad-CAM of the predicted class (top: true / predicted label)", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
