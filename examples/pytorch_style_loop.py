"""A PyTorch-style training and evaluation loop with a small residual network
(SEEDS.md model 4).

Source program: the survey articles' PyTorch ResNet18 fine-tuning example -
device selection (``"cuda" if available else "cpu"``), a model with residual
(skip) connections, ``optim.Adam`` (here with a cosine learning-rate
schedule) and ``nn.CrossEntropyLoss``, the ``for images, labels in loader:
optimizer.zero_grad(); loss.backward(); optimizer.step()`` loop, ``torch.save(model.state_dict())`` /
``model.load_state_dict(torch.load(...))``, and an evaluation loop under
``no_grad`` counting correct predictions. The model is ``tg.models.resnet18``
itself - torchvision's 8 basic blocks in 4 stages, identity or 1x1-projection
shortcuts, global average pooling - with the small-image stem (3x3 conv, no
max-pool) at 1/8 of the width (``--width 64`` is full size), on the bundled digits
resampled to 16x16 (``--size 28`` for MNIST's shape, about 3x slower).

    python examples/pytorch_style_loop.py [--epochs 4] [--size 16] [--width 8] [--device cpu|cuda] [--quick]
"""
import argparse
import os
import tempfile

import tinygrad_img as tg
import tinygrad_img.functional as F
from tinygrad_img import optim
from tinygrad_img.data import DataLoader, TensorDataset
from tinygrad_img.data.datasets import load_digits


def evaluate(model, loader, device):
    """Accuracy = correct / total, counting arg-max predictions as the articles' loop does."""
    model.eval()
    correct = total = 0
    with tg.no_grad():
        for images, labels in loader:
            outputs = model(images.to(device))
            predicted = outputs.argmax(axis=1).numpy()
            total += labels.shape[0]
            correct += int((predicted == labels.numpy()).sum())
    return correct / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=16, help="digit image size (8 = native, 28 = MNIST's)")
    parser.add_argument("--width", type=int, default=8, help="channels of ResNet18's first stage (64 = full)")
    parser.add_argument("--device", default="cuda" if tg.cuda_available() else "cpu", choices=("cpu", "cuda"))
    parser.add_argument("--checkpoint", default=None, help="state_dict path (default: a temporary file)")
    parser.add_argument("--quick", action="store_true", help="one epoch on 128 images, 64 test images (smoke test)")
    args = parser.parse_args(argv)
    tg.manual_seed(0)
    device = args.device

    (x_train, y_train), (x_test, y_test) = load_digits(size=args.size)
    if args.quick:
        args.epochs, x_train, y_train, x_test, y_test = 1, x_train[:128], y_train[:128], x_test[:64], y_test[:64]
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=0)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=256)

    model = tg.models.resnet18(num_classes=10, in_channels=1, width=args.width, small_input=True).to(device)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            running += loss.item() * labels.shape[0]
        scheduler.step()
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {running / len(x_train):.4f}, "
              f"test accuracy {evaluate(model, test_loader, device):.4f}")

    path = args.checkpoint or os.path.join(tempfile.mkdtemp(), "resnet_digits.safetensors")
    tg.save(model.state_dict(), path)
    restored = tg.models.resnet18(num_classes=10, in_channels=1, width=args.width, small_input=True).to(device)
    restored.load_state_dict(tg.load(path))
    accuracy = evaluate(restored, test_loader, device)
    print(f"restored from {path}: test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
