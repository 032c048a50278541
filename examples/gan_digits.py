"""A generative adversarial network (GAN) that learns to draw the bundled 8x8 digits.

Article technique: GANs (Goodfellow et al., 2014), named among the image architectures in
SEEDS.md. A generator G maps noise z ~ N(0, I) to an image and a discriminator D maps an
image to a real-vs-fake logit; both are small MLPs trained in turn with Adam on
binary cross-entropy with logits:
  D step: minimise BCE(D(x), 1) + BCE(D(G(z)), 0)   (G(z) detached: only D learns)
  G step: minimise BCE(D(G(z)), 1)                  (the non-saturating generator loss)
At the end it prints the losses and D's mean probabilities for real and generated digits,
and writes a grid of generated samples (top) under a row of real digits to a PNG.

    python examples/gan_digits.py [--steps 3000] [--out gan_digits.png] [--quick]
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tinygrad_img as tg  # noqa: E402
import tinygrad_img.functional as F  # noqa: E402
from tinygrad_img import nn, optim  # noqa: E402
from tinygrad_img.data.datasets import load_digits  # noqa: E402

LATENT = 16


def generator(hidden=128):
    """z (N, 16) -> image (N, 64) in (0, 1)."""
    return nn.Sequential(nn.Linear(LATENT, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 64), nn.Sigmoid())


def discriminator(hidden=128):
    """image (N, 64) -> real-vs-fake logit (N, 1)."""
    return nn.Sequential(nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(hidden, 1))


def tile(images, cols):
    """(N, 8, 8) -> one (rows * 9 - 1, cols * 9 - 1) image with light 1-pixel gaps."""
    rows = -(-len(images) // cols)
    canvas = np.full((rows * 9 - 1, cols * 9 - 1), 0.15, dtype=np.float32)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        canvas[r * 9:r * 9 + 8, c * 9:c * 9 + 8] = img
    return canvas


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="alternating D/G updates")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", default="gan_digits.png")
    parser.add_argument("--quick", action="store_true", help="300 steps (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = 300
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    (x_train, _), _ = load_digits()
    real_all = x_train.reshape(len(x_train), 64)

    gen, disc = generator(), discriminator()
    opt_g = optim.Adam(gen.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))
    ones, zeros = tg.ones(args.batch_size, 1), tg.zeros(args.batch_size, 1)
    for step in range(1, args.steps + 1):
        real = tg.Tensor(real_all[rng.integers(0, len(real_all), args.batch_size)])
        fake = gen(tg.randn(args.batch_size, LATENT))
        loss_d = (F.binary_cross_entropy_with_logits(disc(real), ones)
                  + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(disc(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % max(1, args.steps // 5) == 0:
            print(f"step {step}/{args.steps}: D loss {loss_d.item():.3f}, G loss {loss_g.item():.3f}")

    gen.eval()
    disc.eval()
    with tg.no_grad():
        samples = gen(tg.randn(40, LATENT)).numpy().reshape(40, 8, 8)
        p_real = disc(tg.Tensor(real_all[:256])).sigmoid().numpy().mean()
        p_fake = disc(tg.Tensor(samples.reshape(40, 64))).sigmoid().numpy().mean()
    print(f"final: D loss {loss_d.item():.3f}, G loss {loss_g.item():.3f}; "
          f"D(real) {p_real:.2f}, D(generated) {p_fake:.2f} (0.5 each = D cannot tell)")

    fig, axes = plt.subplots(2, 1, figsize=(6, 5.5), gridspec_kw={"height_ratios": [1, 5]})
    for ax, imgs, title in ((axes[0], real_all[:8].reshape(8, 8, 8), "real digits"),
                            (axes[1], samples, f"GAN samples after {args.steps} steps")):
        ax.imshow(tile(imgs, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
