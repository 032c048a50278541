"""Principal component analysis (``tg.decomposition.PCA``).

For data X (n samples x d features) with mean mu:

    C = (X - mu)^T (X - mu) / (n - 1)          (the sample covariance, d x d)
    C = V diag(lambda) V^T,  lambda_1 >= lambda_2 >= ... >= 0   (eigendecomposition)
    z = (x - mu) W^T,  x^ = z W + mu            (W: the top k eigenvectors as rows)

The projection keeps the k directions of largest variance; the mean squared
reconstruction error (with the 1/(n-1) normalisation) equals the discarded
variance sum_{i > k} lambda_i. Each component's sign is fixed so that its
entry of largest magnitude is positive, which makes the result deterministic.
"""
import numpy as np

from . import backend
from .data.dataset import as_array
from .tensor import Tensor

__all__ = ["PCA"]


def _unwrap(fn, x):
    """(array, was_tensor) for a Tensor / NumPy / CuPy 2-D input."""
    a = as_array(x)
    if a.ndim != 2:
        raise ValueError(f"PCA.{fn}: expected a 2-D array (n_samples, n_features), got shape {a.shape}")
    return a, isinstance(x, Tensor)


class PCA:
    """``PCA(n_components)``: an int k in [1, min(n_samples, n_features)], a float f in (0, 1)
    (the fewest components whose explained_variance_ratio_ sums to >= f), or None (all
    min(n_samples, n_features)).

    After ``fit(X)``: ``mean_`` (d,), ``components_`` (k, d, orthonormal rows, by decreasing
    variance), ``explained_variance_`` (k,) = lambda_1..k, ``explained_variance_ratio_`` =
    lambda_i / sum_j lambda_j, ``n_components_``. Arrays live in the input's array module
    (NumPy or CuPy) with its float dtype (float32 for integer input); the eigendecomposition
    is done in float64.
    """

    def __init__(self, n_components=None):
        if n_components is not None and (isinstance(n_components, bool) or
                                         not isinstance(n_components, (int, float, np.integer, np.floating))):
            raise TypeError(f"PCA: n_components must be an int, a float in (0, 1) or None, "
                            f"got {type(n_components).__name__}")
        if isinstance(n_components, (float, np.floating)) and not 0.0 < n_components < 1.0:
            raise ValueError(f"PCA: a float n_components={n_components} must be in (0, 1)")
        if isinstance(n_components, (int, np.integer)) and n_components < 1:
            raise ValueError(f"PCA: n_components={n_components} must be >= 1")
        self.n_components = n_components

    def fit(self, X):
        """Centre X, form the covariance X_c^T X_c / (n - 1), take its eigenvectors. Returns self."""
        x, _ = _unwrap("fit", X)
        n, d = x.shape
        if n < 2:
            raise ValueError(f"PCA.fit: need at least 2 samples to estimate a covariance, got {n}")
        xp = backend.get_array_module(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=0)
        xc = x64 - mean
        evals, evecs = xp.linalg.eigh(xc.T @ xc / (n - 1))
        evals, evecs = xp.maximum(evals[::-1], 0.0), evecs[:, ::-1].T.copy()   # eigh sorts ascending
        rows = xp.arange(d)
        evecs *= xp.sign(evecs[rows, xp.argmax(abs(evecs), axis=1)])[:, None]
        k = self._count(evals, min(n, d))
        total = float(evals.sum())
        self.n_components_, self.n_features_in_, self.n_samples_ = k, d, n
        self.mean_ = mean.astype(dtype)
        self.components_ = evecs[:k].astype(dtype)
        self.explained_variance_ = evals[:k].astype(dtype)
        ratio = evals / total if total > 0 else xp.zeros_like(evals)
        self.explained_variance_ratio_ = ratio[:k].astype(dtype)
        return self

    def _count(self, evals, limit):
        k = self.n_components
        if k is None:
            return limit
        if isinstance(k, (float, np.floating)):
            total = float(evals.sum())
            cum = np.cumsum(backend.to_device(evals[:limit], "cpu")) / (total if total > 0 else 1.0)
            return int(min(np.searchsorted(cum, k * (1 - 1e-12)) + 1, limit))
        if k > limit:
            raise ValueError(f"PCA.fit: n_components={k} must be <= min(n_samples, n_features) = {limit}")
        return int(k)

    def _check_fitted(self, fn, x, width_attr):
        if not hasattr(self, "components_"):
            raise ValueError(f"PCA.{fn}: this PCA is not fitted yet; call fit(X) first")
        width = getattr(self, width_attr)
        if x.shape[1] != width:
            raise ValueError(f"PCA.{fn}: X has {x.shape[1]} columns but {width} were expected")

    def transform(self, X):
        """z = (x - mean_) components_^T: (n, d) -> (n, k), the type of X (Tensor or array)."""
        x, was_tensor = _unwrap("transform", X)
        self._check_fitted("transform", x, "n_features_in_")
        z = (x.astype(self.mean_.dtype) - self.mean_) @ self.components_.T
        return Tensor(z, dtype=z.dtype) if was_tensor else z

    def fit_transform(self, X):
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        """x^ = z components_ + mean_: (n, k) -> (n, d), the type of Z (Tensor or array)."""
        z, was_tensor = _unwrap("inverse_transform", Z)
        self._check_fitted("inverse_transform", z, "n_components_")
        x = z.astype(self.mean_.dtype) @ self.components_ + self.mean_
        return Tensor(x, dtype=x.dtype) if was_tensor else x

    def __repr__(self):
        return f"PCA(n_components={self.n_components})"
