"""A variational autoencoder (VAE) on the bundled digits: reconstructions and new samples.

Article technique: autoencoders and VAEs (Kingma and Welling, 2014), named in SEEDS.md for
feature extraction / dimensionality reduction and generation. ``tg.models.VAE`` encodes an
image x into q(z|x) = N(mu, diag(exp(logvar))) over a small latent space, samples
z = mu + exp(logvar / 2) * eps (the reparameterisation trick) and decodes z back to pixel
probabilities; training minimises ``tg.models.vae_loss``, the negative ELBO
  sum_pixels BCE(recon, x) + KL(q(z|x) || N(0, I))   (averaged over the batch)
with Adam. It prints the train loss per epoch and the final test loss, and writes a PNG with
test digits, their reconstructions and digits decoded from random z ~ N(0, I).

    python examples/vae_digits.py [--epochs 30] [--size 8|28] [--latent 8] [--out vae_digits.png] [--quick]
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import tinygrad_img as tg  # noqa: E402
from tinygrad_img import optim  # noqa: E402
from tinygrad_img.data import DataLoader, TensorDataset  # noqa: E402
from tinygrad_img.data.datasets import load_digits  # noqa: E402
from tinygrad_img.models import VAE, vae_loss  # noqa: E402


def evaluate_loss(model, x):
    """The negative ELBO on x in eval mode (z = mu), per image."""
    model.eval()
    with tg.no_grad():
        recon, mu, logvar = model(tg.Tensor(x))
        return vae_loss(recon, tg.Tensor(x), mu, logvar).item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--size", type=int, default=8, help="image size, divisible by 4 (8 = native, 28 = MNIST's)")
    parser.add_argument("--latent", type=int, default=8, help="latent dimensions")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", default="vae_digits.png")
    parser.add_argument("--quick", action="store_true", help="3 epochs on 512 images (smoke test)")
    args = parser.parse_args(argv)
    tg.manual_seed(0)
    (x_train, y_train), (x_test, _) = load_digits(size=args.size)
    if args.quick:
        args.epochs, x_train, y_train = 3, x_train[:512], y_train[:512]
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)
    model = VAE(in_channels=1, image_size=args.size, latent_dim=args.latent, base=16)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for images, _ in loader:
            recon, mu, logvar = model(images)
            loss = vae_loss(recon, images, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * images.shape[0]
        if epoch == 0 or (epoch + 1) % max(1, args.epochs // 5) == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: train loss (negative ELBO per image) {total / len(x_train):.3f}")
    final = evaluate_loss(model, x_test)
    print(f"final test loss (negative ELBO per image) {final:.3f}")

    with tg.no_grad():
        recon = model(tg.Tensor(x_test[:8]))[0].numpy()
        samples = model.decode(tg.randn(16, args.latent)).numpy()
    rows = [("test digits", x_test[:8]), ("reconstructions", recon), ("samples", samples[:8]), ("", samples[8:])]
    fig, axes = plt.subplots(len(rows), 8, figsize=(8, 4.4), squeeze=False)
    for r, (title, images) in enumerate(rows):
        for c in range(8):
            axes[r][c].imshow(images[c, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[r][c].axis("off")
        axes[r][0].set_title(title, fontsize=8, loc="left")
    fig.suptitle(f"VAE on {args.size}x{args.size} digits, {args.latent}-d latent space")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")
    return final


if __name__ == "__main__":
    main()
