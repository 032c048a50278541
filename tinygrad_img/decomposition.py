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
from .data.transforms_base import unwrap

__all__ = ["PCA"]


def fewest_reaching(values, fraction):
    """The fewest k >= 1 with sum_{i<=k} v_i >= fraction * sum_i v_i, for non-negative ``values``
    sorted in decreasing order (a NumPy or CuPy array; the sums are taken on the host). A
    relative slack of 1e-12 absorbs rounding, so fraction = 1 stops at the last non-zero value.
    Shared by ``PCA(n_components=f)`` (eigenvalues) and ``compress.low_rank_linear`` (s_i^2)."""
    cum = np.cumsum(backend.to_device(values, "cpu"))
    return int(min(np.searchsorted(cum, fraction * cum[-1] * (1 - 1e-12)) + 1, len(cum)))


def _unwrap(fn, x):
    """(2-D array, rewrap) via ``data.transforms_base.unwrap``: a Tensor gives its data and
    comes back as a Tensor, a NumPy/CuPy array stays an array. unwrap refuses array-likes
    without ``.shape``; PCA also accepts those (nested lists), converting them with np.asarray."""
    a, rewrap = unwrap(x if hasattr(x, "shape") else np.asarray(x))
    if a.ndim != 2:
        raise ValueError(f"PCA.{fn}: expected a 2-D array (n_samples, n_features), got shape {a.shape}")
    return a, rewrap


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
        """Centre X, form the covariance X_c^T X_c / (n - 1), take its eigenvectors. Returns self.
        X must be finite: NaN or infinite entries raise a ValueError."""
        x, _ = _unwrap("fit", X)
        n, d = x.shape
        if n < 2:
            raise ValueError(f"PCA.fit: need at least 2 samples to estimate a covariance, got {n}")
        xp = backend.get_array_module(x)
        if x.dtype.kind not in "biu" and not bool(xp.isfinite(x).all()):
            raise ValueError(f"PCA.fit: X contains NaN or infinite values "
                             f"({int((~xp.isfinite(x)).sum())} of {x.size} entries)")
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
        if isinstance(k, (float, np.floating)):   # zero variance: no ratio reaches f, keep them all
            return min(fewest_reaching(evals, k), limit) if float(evals.sum()) > 0 else limit
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
        x, rewrap = _unwrap("transform", X)
        self._check_fitted("transform", x, "n_features_in_")
        return rewrap((x.astype(self.mean_.dtype) - self.mean_) @ self.components_.T)

    def fit_transform(self, X):
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z):
        """x^ = z components_ + mean_: (n, k) -> (n, d), the type of Z (Tensor or array)."""
        z, rewrap = _unwrap("inverse_transform", Z)
        self._check_fitted("inverse_transform", z, "n_components_")
        return rewrap(z.astype(self.mean_.dtype) @ self.components_ + self.mean_)

    def __repr__(self):
        return f"PCA(n_components={self.n_components})"
