"""Convolutional autoencoder and variational autoencoder (Kingma and Welling, 2014).

Both encode an (N, C, H, W) image in [0, 1] with two 3x3 stride-2 convolutions
(C -> base -> 2 base channels, H/4 x W/4) and decode with two 2x2 stride-2 transposed
convolutions back to (N, C, H, W) followed by a sigmoid, so H and W must be divisible by 4.
The VAE maps the flattened code to a Gaussian q(z|x) = N(mu, diag(exp(logvar))) over
``latent_dim`` dimensions, samples z = mu + exp(logvar / 2) * eps with eps ~ N(0, I)
drawn from ``tinygrad_img.random`` (seeded by ``tg.manual_seed``; eval mode uses z = mu),
and decodes z as relu(Linear(z)) reshaped to the code's shape, then through the decoder.
"""
import numbers

from .. import functional as F
from .. import nn
from ..random import generator
from ..tensor import Tensor
from .checks import check_positive_ints

__all__ = ["VAE", "ConvAutoencoder", "gaussian_kl", "vae_loss"]


def _encoder(in_channels, base):
    return nn.Sequential(nn.Conv2d(in_channels, base, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(base, 2 * base, 3, stride=2, padding=1), nn.ReLU())


def _decoder(out_channels, base):
    return nn.Sequential(nn.ConvTranspose2d(2 * base, base, 2, stride=2), nn.ReLU(),
                         nn.ConvTranspose2d(base, out_channels, 2, stride=2), nn.Sigmoid())


def _check_image(name, x, channels, size=None):
    bad = x.ndim != 4 or x.shape[1] != channels or x.shape[2] % 4 or x.shape[3] % 4
    if bad or (size is not None and tuple(x.shape[2:]) != size):
        want = f"{size[0]}x{size[1]}" if size is not None else "H and W divisible by 4"
        raise ValueError(f"{name}: expected (N, {channels}, H, W) images with {want}, got shape {x.shape}")


class ConvAutoencoder(nn.Module):
    """x -> decoder(encoder(x)): code (N, 2 base, H/4, W/4), reconstruction in (0, 1)."""

    def __init__(self, in_channels=1, base=16):
        super().__init__()
        check_positive_ints("ConvAutoencoder", in_channels=in_channels, base=base)
        self.in_channels = int(in_channels)
        self.encoder = _encoder(in_channels, base)
        self.decoder = _decoder(in_channels, base)

    def encode(self, x):
        _check_image("ConvAutoencoder", x, self.in_channels)
        return self.encoder(x)

    def forward(self, x):
        """(N, C, H, W) -> reconstruction (N, C, H, W)."""
        return self.decoder(self.encode(x))


class VAE(nn.Module):
    """Variational autoencoder; ``forward(x)`` returns ``(reconstruction, mu, logvar)``."""

    def __init__(self, in_channels=1, image_size=28, latent_dim=16, base=16):
        super().__init__()
        check_positive_ints("VAE", in_channels=in_channels, latent_dim=latent_dim, base=base)
        size = (image_size, image_size) if isinstance(image_size, numbers.Integral) else image_size
        if isinstance(size, str) or not hasattr(size, "__len__") or len(size) != 2:
            raise ValueError(f"VAE: image_size must be an int or an (H, W) pair, got {image_size!r}")
        h, w = size
        check_positive_ints("VAE", image_height=h, image_width=w)
        if h % 4 or w % 4:
            raise ValueError(f"VAE: image_size must be divisible by 4, got {image_size}")
        self.in_channels, self.image_size = int(in_channels), (h, w)
        self.code_shape = (2 * base, h // 4, w // 4)
        code = 2 * base * (h // 4) * (w // 4)
        self.encoder = _encoder(in_channels, base)
        self.fc_mu = nn.Linear(code, latent_dim)
        self.fc_logvar = nn.Linear(code, latent_dim)
        self.fc_decode = nn.Linear(latent_dim, code)
        self.decoder = _decoder(in_channels, base)

    def encode(self, x):
        """x -> (mu, logvar) of q(z|x), each (N, latent_dim)."""
        _check_image("VAE", x, self.in_channels, self.image_size)
        h = self.encoder(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        """z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (training); z = mu in eval mode."""
        if not self.training:
            return mu
        eps = generator(mu.device).standard_normal(mu.shape, dtype=mu.dtype)
        return mu + (logvar * 0.5).exp() * Tensor(eps, dtype=mu.dtype, device=mu.device)

    def decode(self, z):
        """z (N, latent_dim) -> image probabilities (N, C, H, W)."""
        h = self.fc_decode(z).relu().reshape(z.shape[0], *self.code_shape)
        return self.decoder(h)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over every element:
    -0.5 * sum(1 + logvar - mu^2 - exp(logvar))."""
    return ((logvar + 1.0) - mu ** 2 - logvar.exp()).sum() * -0.5


def vae_loss(recon, x, mu, logvar, recon_loss="bce", reduction="mean"):
    """The negative ELBO: reconstruction error summed over pixels plus gaussian_kl(mu, logvar).

    ``recon_loss`` "bce": sum of binary cross-entropies of ``recon`` (probabilities) against x;
    "mse": sum of squared errors. ``reduction`` "mean" divides the total by the batch size N,
    "sum" keeps it.
    """
    if recon_loss not in ("bce", "mse"):
        raise ValueError(f"vae_loss: recon_loss must be 'bce' or 'mse', got {recon_loss!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"vae_loss: reduction must be 'mean' or 'sum', got {reduction!r}")
    if recon.shape != tuple(x.shape) or mu.shape != logvar.shape or mu.shape[0] != recon.shape[0]:
        raise ValueError(f"vae_loss: recon {recon.shape} must match x {tuple(x.shape)}, and mu {mu.shape} "
                         f"logvar {logvar.shape} must match each other and the batch size")
    rec_fn = F.binary_cross_entropy if recon_loss == "bce" else F.mse_loss
    total = rec_fn(recon, x, reduction="sum") + gaussian_kl(mu, logvar)
    return total * (1.0 / recon.shape[0]) if reduction == "mean" else total
