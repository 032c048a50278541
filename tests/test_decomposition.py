"""tg.decomposition.PCA against an SVD computed with NumPy, reconstruction error and the digits."""
import numpy as np
import pytest

import tinygrad_img as tg
from tinygrad_img.decomposition import PCA, fewest_reaching


def _data(n=60, d=5):
    rng = np.random.default_rng(3)
    return rng.standard_normal((n, d)) @ np.diag([5.0, 3.0, 2.0, 1.0, 0.5])[:d, :d] @ _rotation(d) + 7.0


def _rotation(d):
    q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((d, d)))
    return q


@pytest.mark.parametrize("k", [1, 2, 5])
def test_pca_matches_numpy_svd(k):
    x = _data()
    pca = PCA(k).fit(x)
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s ** 2 / (len(x) - 1)
    np.testing.assert_allclose(pca.mean_, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_, var[:k], rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio_, var[:k] / var.sum(), rtol=1e-10)
    for i in range(k):   # same direction; our sign makes the largest-|.| entry positive
        v = vt[i] * np.sign(vt[i][np.argmax(np.abs(vt[i]))])
        np.testing.assert_allclose(pca.components_[i], v, atol=1e-10)
        assert pca.components_[i][np.argmax(np.abs(pca.components_[i]))] > 0
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(k), atol=1e-12)
    z = pca.transform(x)
    np.testing.assert_allclose(z, xc @ pca.components_.T, atol=1e-10)
    np.testing.assert_allclose(z.var(axis=0, ddof=1), var[:k], rtol=1e-10)
    assert pca.components_.dtype == np.float64 and pca.n_components_ == k


@pytest.mark.parametrize("k", [1, 3, 5])
def test_reconstruction_error_equals_discarded_variance(k):
    x = _data()
    pca = PCA(k).fit(x)
    err = np.sum((x - pca.inverse_transform(pca.transform(x))) ** 2) / (len(x) - 1)
    all_var = PCA().fit(x).explained_variance_
    np.testing.assert_allclose(err, all_var[k:].sum(), rtol=1e-8, atol=1e-10)


def test_fraction_selects_fewest_components_and_float32_tensors():
    x = _data().astype(np.float32)
    full = PCA().fit(x)
    cum = np.cumsum(full.explained_variance_ratio_)
    pca = PCA(0.9).fit(tg.Tensor(x))
    assert pca.n_components_ == int(np.argmax(cum >= 0.9)) + 1 and cum[pca.n_components_ - 2] < 0.9
    z = pca.transform(tg.Tensor(x))
    assert isinstance(z, tg.Tensor) and z.dtype == np.float32 and z.shape == (60, pca.n_components_)
    back = pca.inverse_transform(z)
    assert isinstance(back, tg.Tensor) and back.shape == x.shape
    np.testing.assert_allclose(pca.fit_transform(x), z.numpy(), rtol=1e-5, atol=1e-4)


def test_digits_to_two_components():
    (x, y), _ = tg.data.datasets.load_digits()
    flat = x.reshape(len(x), -1)
    pca = PCA(2)
    z = pca.fit_transform(flat)
    assert z.shape == (len(x), 2) and z.dtype == np.float32
    ratio = PCA().fit(flat.astype(np.float64)).explained_variance_ratio_
    np.testing.assert_allclose(pca.explained_variance_ratio_, ratio[:2], rtol=1e-4)
    assert 0.2 < pca.explained_variance_ratio_.sum() < 0.4   # the first two PCs of the digits carry ~29%
    centroids = np.stack([z[y == c].mean(0) for c in range(10)])
    spread = np.mean([np.linalg.norm(z[y == c] - centroids[c], axis=1).mean() for c in range(10)])
    assert np.linalg.norm(centroids[0] - centroids[1]) > spread   # 0s and 1s separate in 2-D


def test_pca_errors():
    x = _data(n=4, d=5)
    with pytest.raises(ValueError, match=r"PCA.fit: n_components=5 must be <= min\(n_samples, n_features\) = 4"):
        PCA(5).fit(x)
    with pytest.raises(ValueError, match="PCA: n_components=0 must be >= 1"):
        PCA(0)
    with pytest.raises(ValueError, match=r"PCA: a float n_components=1.5 must be in \(0, 1\)"):
        PCA(1.5)
    with pytest.raises(TypeError, match="PCA: n_components must be"):
        PCA("2")
    with pytest.raises(ValueError, match=r"PCA.fit: expected a 2-D array .* got shape \(5,\)"):
        PCA(1).fit(np.ones(5))
    with pytest.raises(ValueError, match="need at least 2 samples"):
        PCA(1).fit(np.ones((1, 3)))
    with pytest.raises(ValueError, match="PCA.transform: this PCA is not fitted yet"):
        PCA(1).transform(x)
    pca = PCA(2).fit(x)
    with pytest.raises(ValueError, match="PCA.transform: X has 3 columns but 5 were expected"):
        pca.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="PCA.inverse_transform: X has 5 columns but 2 were expected"):
        pca.inverse_transform(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pca_fit_refuses_non_finite_data(bad):
    x = _data()
    x[3, 2] = bad
    for data in (x, x.astype(np.float32), tg.Tensor(x)):
        with pytest.raises(ValueError, match=r"PCA.fit: X contains NaN or infinite values \(1 of 300"):
            PCA(2).fit(data)


def test_fewest_reaching_counts_cumulative_energy():
    v = np.array([16.0, 9.0, 4.0, 1.0, 0.0, 0.0])
    assert [fewest_reaching(v, f) for f in (0.1, 16 / 30, 0.54, 25 / 30, 0.84, 29 / 30, 0.999, 1.0)] == \
        [1, 1, 2, 2, 3, 3, 4, 4]
    assert fewest_reaching(np.zeros(3), 0.5) == 1
    x = _data()   # PCA(f) keeps exactly fewest_reaching(all eigenvalues, f) components
    evals = PCA().fit(x).explained_variance_
    for f in (0.3, 0.8, 0.95, 0.999):
        assert PCA(f).fit(x).n_components_ == fewest_reaching(evals, f)


def test_pca_accepts_nested_lists_and_returns_arrays():
    x = _data(n=6, d=3)
    pca = PCA(2).fit(x.tolist())
    z = pca.transform(x.tolist())
    assert isinstance(z, np.ndarray) and z.shape == (6, 2)
    np.testing.assert_allclose(z, PCA(2).fit_transform(x), atol=1e-10)


@pytest.mark.gpu
def test_pca_on_cuda_tensors_matches_cpu():
    x = _data().astype(np.float32)
    cpu = PCA(2).fit(x)
    gpu = PCA(2).fit(tg.Tensor(x, device="cuda"))
    np.testing.assert_allclose(gpu.components_.get(), cpu.components_, atol=1e-5)
    z = gpu.transform(tg.Tensor(x, device="cuda"))
    assert z.device == "cuda"
    np.testing.assert_allclose(z.numpy(), cpu.transform(x), rtol=1e-4, atol=1e-4)
