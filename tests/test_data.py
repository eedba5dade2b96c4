"""Datasets: digits splits, normalisation/augmentation reproducibility, cutout, the CIFAR pickle reader."""

import pickle

import numpy as np
import pytest
import torch

from tnd.data.datasets import DATASETS, Split, cutout, load_dataset
from tnd.errors import TndError

pytestmark = pytest.mark.usefixtures("single_thread")


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.reshape(x.shape[0], -1)}


# --------------------------------------------------------------------------------------------- digits


def test_digits_shapes_and_metadata(digits):
    assert digits.name == "digits"
    assert (digits.num_classes, digits.in_channels, digits.input_size) == (10, 1, 8)
    for split in (digits.train, digits.val, digits.test):
        assert split.x.ndim == 4 and tuple(split.x.shape[1:]) == (1, 8, 8)
        assert split.x.shape[0] == split.y.shape[0] == len(split)
        assert split.y.dtype == torch.int64
        assert split.x.dtype == torch.float32


def test_digits_sizes_are_60_20_20(digits):
    n = len(digits.train) + len(digits.val) + len(digits.test)
    assert n == 1797
    assert abs(len(digits.train) - 0.6 * n) <= 10
    assert abs(len(digits.val) - 0.2 * n) <= 10
    assert abs(len(digits.test) - 0.2 * n) <= 10


def test_digits_splits_are_disjoint_and_cover_everything(digits):
    from sklearn.datasets import load_digits

    d = load_digits()
    # map every image back to its index in the original set (duplicates are possible, so use multisets)
    allx = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)
    full = sorted(r.numpy().tobytes() + bytes([int(t)]) for r, t in zip(allx.reshape(1797, -1), d.target))
    got = sorted(r.numpy().tobytes() + bytes([int(t)])
                 for s in (digits.train, digits.val, digits.test)
                 for r, t in zip(s.x.reshape(len(s), -1), s.y))
    assert got == full  # a partition: every sample exactly once
    # and (excluding genuinely duplicated images) no image appears in two splits
    counts: dict[bytes, int] = {}
    for r in full:
        counts[r] = counts.get(r, 0) + 1
    unique = {k for k, v in counts.items() if v == 1}
    sets = [{r.numpy().tobytes() + bytes([int(t)]) for r, t in zip(s.x.reshape(len(s), -1), s.y)} & unique
            for s in (digits.train, digits.val, digits.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_digits_splits_are_stratified(digits):
    for split, frac in ((digits.train, 0.6), (digits.val, 0.2), (digits.test, 0.2)):
        counts = torch.bincount(split.y, minlength=10)
        assert (counts > 0).all(), "every class in every split"
        # per-class proportion close to the overall fraction
        from sklearn.datasets import load_digits
        totals = np.bincount(load_digits().target, minlength=10)
        assert np.all(np.abs(counts.numpy() - frac * totals) <= 1.5)


def test_digits_same_seed_same_split_different_seed_different_split(digits):
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(again.train.x, digits.train.x) and torch.equal(again.train.y, digits.train.y)
    assert torch.equal(again.test.x, digits.test.x)
    assert len(other.train) == len(digits.train)
    assert not torch.equal(other.train.x, digits.train.x)
    assert _rows(other.val.x) != _rows(digits.val.x)


# ------------------------------------------------------------------------------ normalise & augment


def test_batches_normalise(digits):
    s = digits.train
    xs, ys = zip(*s.batches(100))
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.shape == s.x.shape and torch.equal(y, s.y)
    mean, std = s._norm
    assert torch.allclose(x, (s.x / 16.0 - mean) / std)
    # statistics come from the whole digits set, so a 60% split is close to standardised
    assert abs(float(x.mean())) < 0.1
    assert abs(float(x.std()) - 1.0) < 0.1
    # batch sizes and drop_last
    sizes = [len(b[1]) for b in s.batches(100)]
    assert sum(sizes) == len(s) and all(b == 100 for b in sizes[:-1])
    sizes = [len(b[1]) for b in s.batches(100, drop_last=True)]
    assert all(b == 100 for b in sizes) and len(sizes) == len(s) // 100


def test_batches_shuffle_and_augment_reproducibly(digits):
    s = digits.train

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return [(x.clone(), y.clone()) for x, y in s.batches(64, shuffle=True, generator=g, augment=True)]

    a, b, c = run(3), run(3), run(4)
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert any(not torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))
    assert any(not torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))
    # shuffled: labels are a permutation of the split's labels
    assert torch.equal(torch.sort(torch.cat([y for _, y in a])).values, torch.sort(s.y).values)


def test_augment_is_a_shift_for_digits_and_changes_something(digits):
    s = digits.train
    x = s.normalise(s.x[:64])
    out = s.augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.equal(out, x)  # with 64 images at least one crop offset is non-zero
    # digits: one-pixel crop padding, no flip -> each output is x shifted by (dy, dx) in {-1,0,1}^2
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(64):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(3) for dx in range(3))


def test_split_flip_augmentation_rgb():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(2, 3, 4, 4)
    s = Split(x, torch.tensor([0, 1]), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), crop_padding=0, flip=True)
    xn = s.normalise(x)
    assert torch.allclose(xn, (x.float() / 255 - 0.5) / 0.25)
    seen = set()
    for seed in range(20):
        out = s.augment(xn, torch.Generator().manual_seed(seed))
        for i in range(2):
            if torch.equal(out[i], xn[i]):
                seen.add("same")
            else:
                assert torch.equal(out[i], xn[i].flip(-1))
                seen.add("flip")
    assert seen == {"same", "flip"}


# ---------------------------------------------------------------------------------------------- cutout


def test_cutout_zeroes_one_square():
    x = torch.ones(64, 3, 32, 32)
    out = cutout(x, 8, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    full = 0
    for i in range(64):
        zero = out[i] == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])  # same square on all channels
        ys, xs = torch.nonzero(zero[0], as_tuple=True)
        assert len(ys) > 0
        h = int(ys.max() - ys.min() + 1)
        w = int(xs.max() - xs.min() + 1)
        assert h <= 8 and w <= 8
        assert len(ys) == h * w  # a filled rectangle (a square clipped at the border)
        assert torch.all(out[i][~zero] == 1)
        full += h == 8 and w == 8
    assert full > 0
    again = cutout(x, 8, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert not torch.equal(out, cutout(x, 8, torch.Generator().manual_seed(1)))


def test_cutout_keeps_dtype():
    x = torch.full((4, 3, 16, 16), 7, dtype=torch.uint8)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8
    assert set(out.unique().tolist()) == {0, 7}


# ----------------------------------------------------------------------------------------------- CIFAR


def _write_batch(path, n, labels_key, n_classes, rng):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in (np.arange(n) % n_classes)]
    with path.open("wb") as f:
        pickle.dump({b"data": data, labels_key: labels, b"batch_label": b"x"}, f)
    return data, labels


@pytest.fixture
def fake_cifar10(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    train = [_write_batch(folder / f"data_batch_{i}", 8, b"labels", 10, rng) for i in range(1, 6)]
    test = _write_batch(folder / "test_batch", 6, b"labels", 10, rng)
    return tmp_path, train, test


def test_fake_cifar10_loads(fake_cifar10):
    root, train, test = fake_cifar10
    ds = load_dataset("cifar10", data_dir=root, seed=0, val_fraction=0.5)
    assert (ds.num_classes, ds.in_channels, ds.input_size) == (10, 3, 32)
    assert len(ds.train) + len(ds.val) == 40
    assert len(ds.test) == 6
    for s in (ds.train, ds.val, ds.test):
        assert tuple(s.x.shape[1:]) == (3, 32, 32) and s.x.dtype == torch.uint8
        assert s.y.dtype == torch.int64
    # test split is the test batch, in order, CHW from the row-major 3072 layout
    assert torch.equal(ds.test.x, torch.from_numpy(test[0].reshape(-1, 3, 32, 32)))
    assert ds.test.y.tolist() == test[1]
    # train+val together are exactly the five train batches
    all_train = np.concatenate([d for d, _ in train]).reshape(-1, 3, 32, 32)
    got = _rows(torch.cat([ds.train.x, ds.val.x]))
    assert got == _rows(torch.from_numpy(all_train))
    assert not (_rows(ds.train.x) & _rows(ds.val.x))
    # labels travel with their images
    lookup = {r.tobytes(): l for r, l in zip(all_train.reshape(40, -1), [l for _, ls in train for l in ls])}
    for s in (ds.train, ds.val):
        for r, l in zip(s.x.reshape(len(s), -1), s.y):
            assert lookup[r.numpy().tobytes()] == int(l)
    # batches normalise with the CIFAR statistics
    x, _ = next(ds.test.batches(6))
    assert x.dtype == torch.float32 and x.shape == (6, 3, 32, 32)


def test_fake_cifar10_val_fraction_zero(fake_cifar10):
    root, _, _ = fake_cifar10
    ds = load_dataset("cifar10", data_dir=root, val_fraction=0.0)
    assert len(ds.train) == 40 and len(ds.val) == 0


def test_fake_cifar10_bad_val_fraction(fake_cifar10):
    root, _, _ = fake_cifar10
    with pytest.raises(TndError, match="val_fraction"):
        load_dataset("cifar10", data_dir=root, val_fraction=1.0)


def test_fake_cifar100_loads(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    train = _write_batch(folder / "train", 30, b"fine_labels", 100, rng)
    test = _write_batch(folder / "test", 5, b"fine_labels", 100, rng)
    ds = load_dataset("cifar100", data_dir=tmp_path, seed=0, val_fraction=0.5)
    assert (ds.num_classes, ds.in_channels, ds.input_size) == (100, 3, 32)
    assert len(ds.train) + len(ds.val) == 30 and len(ds.test) == 5
    for s in (ds.train, ds.val, ds.test):
        assert tuple(s.x.shape[1:]) == (3, 32, 32)
    assert torch.equal(ds.test.x, torch.from_numpy(test[0].reshape(-1, 3, 32, 32)))
    assert ds.test.y.tolist() == test[1]
    assert sorted(torch.cat([ds.train.y, ds.val.y]).tolist()) == sorted(train[1])


def test_corrupt_cifar_batch_names_the_file(fake_cifar10):
    root, _, _ = fake_cifar10
    bad = root / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(TndError, match="data_batch_3"):
        load_dataset("cifar10", data_dir=root)


def test_cifar_batch_missing_labels_key(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(2)
    _write_batch(folder / "train", 4, b"labels", 100, rng)  # CIFAR-10 key: wrong for CIFAR-100
    _write_batch(folder / "test", 4, b"fine_labels", 100, rng)
    with pytest.raises(TndError, match="train"):
        load_dataset("cifar100", data_dir=tmp_path)


@pytest.mark.parametrize("name, folder", [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")])
def test_missing_cifar_folder_is_a_clear_error(tmp_path, name, folder):
    with pytest.raises(TndError) as e:
        load_dataset(name, data_dir=tmp_path / "nowhere")
    msg = str(e.value)
    assert folder in msg
    assert str(tmp_path / "nowhere") in msg
    assert "--download" in msg


def test_unknown_dataset_lists_datasets():
    with pytest.raises(TndError) as e:
        load_dataset("mnist")
    msg = str(e.value)
    assert "mnist" in msg
    for name in DATASETS:
        assert name in msg
    assert set(DATASETS) >= {"digits", "cifar10", "cifar100"}


def test_download_fetches_only_what_is_missing(tmp_path, monkeypatch):
    import numpy as np

    import tnd.data.datasets as ds
    from tnd.data import ensure_downloaded

    calls = []

    def fake_download(spec, root):  # stands in for the network: writes what the archive would hold
        calls.append(spec["url"])
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            _write_batch(folder / name, 4, b"labels", 10, rng)

    monkeypatch.setattr(ds, "_download", fake_download)
    ensure_downloaded("cifar10", tmp_path)
    ensure_downloaded("cifar10", tmp_path)
    assert calls == [ds._CIFAR["cifar10"]["url"]]
    assert len(load_dataset("cifar10", tmp_path, val_fraction=0.5).test) == 4
    ensure_downloaded("digits", tmp_path)  # embedded: nothing to fetch
    assert len(calls) == 1


# ------------------------------------------------------------------ batched augmentation, devices


def _per_image_batches(split, batch_size, generator, cutout_length=0):
    """The per-image reference: what Split.batches did before crops were gathered for the whole batch."""
    order = torch.randperm(len(split), generator=generator)
    for i in range(0, len(split), batch_size):
        idx = order[i: i + batch_size]
        x = split.normalise(split.x[idx])
        b, _, h, w = x.shape
        p = split.crop_padding
        if p:
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
            x = torch.stack([padded[j, :, int(dy[j]): int(dy[j]) + h, int(dx[j]): int(dx[j]) + w] for j in range(b)])
        if split.flip:
            flip = torch.rand(b, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if cutout_length:
            x = cutout(x, cutout_length, generator)
        yield x, split.y[idx]


def _cifar_like(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return Split(x, torch.arange(n) % 10, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))


@pytest.mark.parametrize("cutout_length", [0, 16])
def test_cpu_batches_are_bit_identical_to_the_per_image_reference(cutout_length, digits):
    for split in (_cifar_like(200), digits.train):
        got = list(split.batches(64, shuffle=True, generator=torch.Generator().manual_seed(5), augment=True,
                                 cutout_length=cutout_length))
        ref = list(_per_image_batches(split, 64, torch.Generator().manual_seed(5), cutout_length))
        assert len(got) == len(ref)
        for (xa, ya), (xb, yb) in zip(got, ref):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def _position_split(n, padding=4, flip=True):
    """Images whose every pixel holds its own (row, column) code, so a crop's offset and flip can be read back."""
    r, c = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    x = (r * 32 + c + 1).expand(n, 1, 32, 32).clone()
    return Split(x, torch.zeros(n, dtype=torch.int64), (0.0,), (1.0,), scale=1.0, crop_padding=padding, flip=flip)


def test_batched_crop_and_flip_statistics():
    split = _position_split(4000)
    (x, _), = split.batches(4000, shuffle=True, generator=torch.Generator().manual_seed(0), augment=True)
    assert x.shape == (4000, 1, 32, 32) and x.dtype == torch.float32
    # read each image's offset and flip back from its centre pixels, then check the whole image is that window
    flipped = x[:, 0, 16, 15] > x[:, 0, 16, 16]
    code = x[:, 0, 16, 16].long() - 1
    dy = code // 32 - 12
    dx = code % 32 - 12 + flipped.long()
    padded = torch.nn.functional.pad(split.x[0], (4, 4, 4, 4))
    expected = torch.stack([padded[:, a: a + 32, b: b + 32] for a, b in zip(dy.tolist(), dx.tolist())])
    assert torch.equal(x, torch.where(flipped[:, None, None, None], expected.flip(-1), expected))
    assert abs(float(flipped.float().mean()) - 0.5) < 0.03      # 0.5 +- 3.9 standard deviations
    counts = np.bincount((dy * 9 + dx).numpy(), minlength=81)
    assert counts.min() > 0                                     # all 81 offsets occur (expected ~49 each)
    for offset in (dy, dx):                                     # each axis offset ~uniform on 0..8
        per = np.bincount(offset.numpy(), minlength=9) / 4000
        assert np.all(np.abs(per - 1 / 9) < 0.025), per


def test_batched_cutout_statistics():
    split = _position_split(3000, padding=0, flip=False)       # only cutout can zero a pixel
    (x, _), = split.batches(3000, generator=torch.Generator().manual_seed(1), augment=True, cutout_length=8)
    zero = x[:, 0] == 0
    areas = zero.sum(dim=(1, 2)).float()
    for img in zero[:200]:                                      # one filled, axis-aligned rectangle of <= 8x8
        ys, xs = torch.nonzero(img, as_tuple=True)
        h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert h <= 8 and w <= 8 and len(ys) == h * w
    # centre uniform over the image, square clipped at the border: E[area] = E[clipped side]^2
    side = np.array([min(32, c + 4) - max(0, c - 4) for c in range(32)], dtype=float)
    assert abs(float(areas.mean()) - side.mean() ** 2) < 0.03 * side.mean() ** 2
    assert float((areas == 64).float().mean()) == pytest.approx(((side == 8).mean()) ** 2, abs=0.04)


def test_batched_augmentation_is_deterministic_for_a_seeded_generator():
    split = _cifar_like(300)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return [x for x, _ in split.batches(100, shuffle=True, generator=g, augment=True, cutout_length=16)]

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert any(not torch.equal(p, q) for p, q in zip(a, c))


def test_split_to_a_device_moves_data_and_statistics(digits):
    from tnd.data.datasets import device_generator

    moved = digits.to("cpu")
    assert moved.train.device == torch.device("cpu") and moved.train.x is digits.train.x  # nothing copied
    assert moved.train._norm[0].device == moved.train.device
    assert (moved.num_classes, moved.input_size) == (digits.num_classes, digits.input_size)
    g = torch.Generator()
    assert device_generator(g, torch.device("cpu")) is g and device_generator(None, torch.device("cpu")) is None


@pytest.mark.gpu
def test_gpu_split_batches_stay_on_the_gpu_and_repeat_for_a_seeded_cpu_generator():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    split = _position_split(2000).to("cuda")
    assert split.device.type == "cuda" and split._norm[0].device.type == "cuda"

    def run(seed):
        g = torch.Generator().manual_seed(seed)  # the loop's CPU generator drives the GPU draws
        return list(split.batches(500, shuffle=True, generator=g, augment=True, cutout_length=8))

    a, b = run(3), run(3)
    assert all(x.device.type == "cuda" and y.device.type == "cuda" for x, y in a)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert any(not torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, run(4)))
    x = torch.cat([x for x, _ in a])
    assert x.shape == (2000, 1, 32, 32)
    # flipped windows read right to left: the column code falls along a row where no pixel is zeroed
    row = x[:, 0, 16, 14:18]
    flipped = ((row[:, 1:] - row[:, :-1]) < 0).all(dim=1) & (row != 0).all(dim=1)
    unflipped = ((row[:, 1:] - row[:, :-1]) > 0).all(dim=1) & (row != 0).all(dim=1)
    share = float(flipped.sum()) / float((flipped | unflipped).sum())
    assert abs(share - 0.5) < 0.06
    g = torch.Generator(device="cuda").manual_seed(0)  # a generator on the data's device is used as it is
    (xg, _), = split.batches(2000, shuffle=True, generator=g, augment=True)
    assert xg.device.type == "cuda"


# ----------------------------------------------------------------------- downloads: checksums, partials

def _cifar10_archive(path, rng=None):
    """A small but well-formed cifar-10-python.tar.gz (4 images per batch)."""
    import tarfile

    rng = rng or np.random.default_rng(0)
    src = path.parent / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _write_batch(src / name, 4, b"labels", 10, rng)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return path


@pytest.fixture
def good_archive(tmp_path, monkeypatch):
    """A good archive, and the CIFAR-10 spec's MD5 pointed at it (the real one names the real archive)."""
    import tnd.data.datasets as ds

    archive = _cifar10_archive(tmp_path / "made" / "cifar-10-python.tar.gz")
    monkeypatch.setitem(ds._CIFAR, "cifar10", {**ds._CIFAR["cifar10"], "md5": ds.md5_of(archive)})
    return archive


def _fetch_writing(data: bytes, calls: list, fail: Exception | None = None):
    def fetch(url, dest):
        calls.append(url)
        dest.write_bytes(data)
        if fail is not None:
            raise fail

    return fetch


def test_the_cifar_checksums_are_torchvisions():
    from torchvision.datasets import CIFAR10, CIFAR100

    import tnd.data.datasets as ds

    assert ds._CIFAR["cifar10"]["md5"] == CIFAR10.tgz_md5
    assert ds._CIFAR["cifar100"]["md5"] == CIFAR100.tgz_md5


def test_a_corrupt_download_is_deleted_and_reported_in_one_line(tmp_path, monkeypatch):
    import tnd.data.datasets as ds
    from tnd.data import ensure_downloaded

    calls = []
    monkeypatch.setattr(ds, "_fetch", _fetch_writing(b"<html>rate limited</html>", calls))
    with pytest.raises(TndError, match="corrupt.*MD5") as e:
        ensure_downloaded("cifar10", tmp_path / "data")
    assert "\n" not in str(e.value) and calls == [ds._CIFAR["cifar10"]["url"]]
    assert list((tmp_path / "data").iterdir()) == [], "nothing may be left for the next try to reuse"


def test_an_interrupted_download_is_deleted_and_the_retry_starts_clean(tmp_path, monkeypatch, good_archive):
    import tnd.data.datasets as ds
    from tnd.data import ensure_downloaded

    data = tmp_path / "data"
    calls = []
    half = good_archive.read_bytes()[: good_archive.stat().st_size // 2]
    monkeypatch.setattr(ds, "_fetch", _fetch_writing(half, calls, ConnectionResetError("connection reset")))
    with pytest.raises(TndError, match="could not download .*connection reset.*deleted the partial file") as e:
        ensure_downloaded("cifar10", data)
    assert "\n" not in str(e.value) and list(data.iterdir()) == []

    # An earlier tnd left a truncated archive under the final name: it is not trusted, but fetched again.
    (data / "cifar-10-python.tar.gz").write_bytes(half)
    monkeypatch.setattr(ds, "_fetch", _fetch_writing(good_archive.read_bytes(), calls))
    ensure_downloaded("cifar10", data)
    assert len(calls) == 2
    assert len(load_dataset("cifar10", data, val_fraction=0.5).test) == 4
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_an_archive_that_cannot_be_extracted_is_deleted_not_an_eoferror(tmp_path, monkeypatch, good_archive):
    import tnd.data.datasets as ds
    from tnd.data import ensure_downloaded

    truncated = good_archive.read_bytes()[:-200]
    # Its checksum "matches" (as if the published archive itself were damaged): extraction must still fail
    # cleanly, leaving neither the archive nor a half-extracted folder.
    monkeypatch.setitem(ds._CIFAR, "cifar10", {**ds._CIFAR["cifar10"], "md5": __import__("hashlib").md5(
        truncated).hexdigest()})
    monkeypatch.setattr(ds, "_fetch", _fetch_writing(truncated, []))
    data = tmp_path / "data"
    with pytest.raises(TndError, match="could not be extracted.*deleted it") as e:
        ensure_downloaded("cifar10", data)
    assert "\n" not in str(e.value) and list(data.iterdir()) == []
