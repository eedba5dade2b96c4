"""Splits held as tensors; batches are normalised (and augmented) on the fly, reproducibly.

Everything fits in memory (CIFAR as uint8 is 150 MB), so no DataLoader workers: a batch is an index
into a tensor, and a seeded ``torch.Generator`` decides order and augmentation, which is what lets a
search resume bit-identically.

A split can live on a GPU (``Split.to``): then order, crop, flip and cutout are drawn and applied there,
for the whole batch at once, with no host synchronisation. The caller's generator may stay on the CPU
(its state is what checkpoints hold): each ``batches``/``cutout`` call then seeds a generator on the
split's device from one draw of it, so a resumed CPU generator gives the same GPU batches again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from tnd.errors import TndError

DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100")

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

_CIFAR = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "labels": b"labels", "classes": 10,
                "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "md5": "c58f30108f718f92721af3b95e74349a",   # torchvision.datasets.CIFAR10's
                "mean": CIFAR_MEAN, "std": CIFAR_STD},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"], "labels": b"fine_labels",
                 "classes": 100, "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "md5": "eb9058c3a382ffc7106e4002c42a8d85",  # torchvision.datasets.CIFAR100's
                 "mean": CIFAR100_MEAN, "std": CIFAR100_STD},
}


@dataclass
class Split:
    x: torch.Tensor                        # N, C, H, W: uint8 (CIFAR) or float (digits), un-normalised
    y: torch.Tensor                        # N, int64
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    scale: float = 255.0                   # raw value of "white" (255 for CIFAR, 16 for digits)
    crop_padding: int = 4                  # augmentation: random crop with this padding (0 = none)
    flip: bool = True                      # augmentation: random horizontal flip
    _norm: tuple[torch.Tensor, torch.Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c = self.x.shape[1]
        mean = torch.tensor(self.mean if len(self.mean) == c else self.mean * c).view(1, c, 1, 1)
        std = torch.tensor(self.std if len(self.std) == c else self.std * c).view(1, c, 1, 1)
        self._norm = (mean.to(self.x.device), std.to(self.x.device))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> "Split":
        """This split with its images, labels and statistics on ``device`` (the tensors are shared if already there)."""
        return dataclasses.replace(self, x=self.x.to(device), y=self.y.to(device))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._norm
        return (x.float() / self.scale - mean) / std

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                augment: bool = False, drop_last: bool = False,
                cutout_length: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised batches on the split's device; ``augment``: crop and flip, then cutout if ``cutout_length``."""
        n = len(self)
        generator = device_generator(generator, self.device)
        order = torch.randperm(n, generator=generator, device=self.device) if shuffle else torch.arange(
            n, device=self.device)
        stop = n - n % batch_size if drop_last else n
        for i in range(0, stop, batch_size):
            idx = order[i: i + batch_size]
            x = self.normalise(self.x[idx])
            if augment:
                x = self.augment(x, generator)
                if cutout_length:
                    x = cutout(x, cutout_length, generator)
            yield x, self.y[idx]

    def augment(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random crop (zero padding) and horizontal flip of the whole batch, drawn from ``generator``."""
        b, _, h, w = x.shape
        generator = device_generator(generator, x.device)
        p = self.crop_padding
        if p:
            x = _crop(torch.nn.functional.pad(x, (p, p, p, p)),
                      torch.randint(0, 2 * p + 1, (b,), generator=generator, device=x.device),
                      torch.randint(0, 2 * p + 1, (b,), generator=generator, device=x.device), h, w)
        if self.flip:
            flip = torch.rand(b, generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


def device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """A generator that can draw on ``device``: ``generator`` itself when it is there (or None: torch's
    default one), else -- a CPU generator driving a GPU split -- a new one seeded from one draw of it."""
    if generator is None or _same_device(generator.device, device):
        return generator
    if generator.device.type != "cpu":
        raise ValueError(f"a generator on {generator.device} cannot drive data on {device}; pass a CPU generator "
                         "or one on the data's device")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cuda":  # "cuda" means the current device
        a, b = (torch.device("cuda", torch.cuda.current_device()) if d.index is None else d for d in (a, b))
    return a.index == b.index


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Each image's ``h`` x ``w`` window at (dy, dx), gathered for the whole batch at once (no per-image loop)."""
    b, c, _, wp = padded.shape
    rows = dy[:, None] + torch.arange(h, device=padded.device)                # b, h
    cols = dx[:, None] + torch.arange(w, device=padded.device)                # b, w
    x = padded.gather(2, rows[:, None, :, None].expand(b, c, h, wp))
    return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def cutout(x: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random ``length`` x ``length`` square per image (DeVries & Taylor), centre anywhere."""
    b, _, h, w = x.shape
    generator = device_generator(generator, x.device)
    cy = torch.randint(0, h, (b,), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=x.device)
    ys, xs = torch.arange(h, device=x.device)[None, :, None], torch.arange(w, device=x.device)[None, None, :]
    top, left = (cy - length // 2)[:, None, None], (cx - length // 2)[:, None, None]
    inside = (ys >= top) & (ys < top + length) & (xs >= left) & (xs < left + length)
    return x * (~inside)[:, None].to(x.dtype)


@dataclass
class DatasetSplits:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    in_channels: int
    input_size: int

    def to(self, device: torch.device | str) -> "DatasetSplits":
        """All three splits on ``device`` (CIFAR-10 in all: 180 MB as uint8)."""
        return dataclasses.replace(self, train=self.train.to(device), val=self.val.to(device),
                                   test=self.test.to(device))


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0, val_fraction: float = 0.5,
                 download: bool = False) -> DatasetSplits:
    """``digits``: 60/20/20 stratified train/val/test. CIFAR: the official train set split into train and
    val by ``val_fraction`` (search: half for weights, half for rewards, as DARTS), test = test batch."""
    if name == "digits":
        return _digits(seed)
    if name in _CIFAR:
        if not 0.0 <= val_fraction < 1.0:
            raise TndError(f"val_fraction must be in [0, 1), got {val_fraction}")
        return _cifar(name, Path(data_dir or "data"), seed, val_fraction, download)
    raise TndError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


# Images per class in each dataset's official training set (CIFAR) or whole set (digits), for split sizes
# known without loading anything (a dry-run plan counts steps from them).
_CLASS_COUNTS = {"digits": (178, 182, 177, 183, 181, 182, 181, 179, 174, 180), "cifar10": (5000,) * 10,
                 "cifar100": (500,) * 100}
_DIGITS_FRACTIONS = (0.6, 0.2, 0.2)


def search_split_sizes(name: str, val_fraction: float = 0.5) -> tuple[int, int]:
    """(train, val) sizes ``load_dataset`` gives, computed as its stratified split rounds them."""
    if name not in _CLASS_COUNTS:
        raise TndError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    fractions = _DIGITS_FRACTIONS if name == "digits" else (1 - val_fraction, val_fraction)
    sizes = [0] * len(fractions)
    for n in _CLASS_COUNTS[name]:
        bounds = [0, *np.cumsum([round(f * n) for f in fractions[:-1]]), n]
        for k in range(len(fractions)):
            sizes[k] += int(bounds[k + 1] - bounds[k])
    return sizes[0], sizes[1]


def _stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        bounds = np.cumsum([round(f * len(idx)) for f in fractions[:-1]])
        for k, chunk in enumerate(np.split(idx, bounds)):
            parts[k] += chunk.tolist()
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def _digits(seed: int) -> DatasetSplits:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)   # 0..16
    y = torch.tensor(d.target, dtype=torch.int64)
    train, val, test = _stratified_split(d.target, _DIGITS_FRACTIONS, seed)
    mean, std = float(x.mean() / 16), float((x / 16).std())

    def split(idx: np.ndarray) -> Split:
        # 8x8 glyphs: a one-pixel shift is the only augmentation that keeps them digits; no flips.
        return Split(x[idx], y[idx], (mean,), (std,), scale=16.0, crop_padding=1, flip=False)

    return DatasetSplits("digits", split(train), split(val), split(test), 10, 1, 8)


def _read_cifar_files(folder: Path, names: list[str], labels_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        path = folder / name
        try:
            with path.open("rb") as f:
                batch = pickle.load(f, encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[labels_key], dtype=np.int64))
        except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as e:
            raise TndError(f"{path} is not a readable CIFAR batch ({type(e).__name__}); "
                           "download the python version of the dataset again") from None
    return np.concatenate(xs), np.concatenate(ys)


def ensure_downloaded(name: str, data_dir: str | Path | None = None) -> None:
    """``--download``: fetch and extract a CIFAR archive into ``data_dir`` unless its files are there."""
    if name in _CIFAR:
        spec, root = _CIFAR[name], Path(data_dir or "data")
        if _missing(spec, root / spec["folder"]):
            _download(spec, root)


def _missing(spec: dict, folder: Path) -> list[str]:
    return [n for n in spec["train"] + spec["test"] if not (folder / n).is_file()]


def _cifar(name: str, root: Path, seed: int, val_fraction: float, download: bool) -> DatasetSplits:
    spec = _CIFAR[name]
    folder = root / spec["folder"]
    if download:
        ensure_downloaded(name, root)
    missing = _missing(spec, folder)
    if missing:
        raise TndError(f"{name} not found: expected {folder}/ with {', '.join(missing[:3])}"
                       f"{'...' if len(missing) > 3 else ''} (the python version, {spec['url'].rsplit('/', 1)[1]}, "
                       f"extracted into {root}/); put the files there, pass --data-dir, or add --download")
    x, y = _read_cifar_files(folder, spec["train"], spec["labels"])
    xt, yt = _read_cifar_files(folder, spec["test"], spec["labels"])
    train_idx, val_idx = _stratified_split(y, (1 - val_fraction, val_fraction), seed) if val_fraction else (
        np.arange(len(y)), np.arange(0))

    def split(xa: np.ndarray, ya: np.ndarray) -> Split:
        return Split(torch.from_numpy(np.ascontiguousarray(xa)), torch.from_numpy(ya), spec["mean"], spec["std"])

    return DatasetSplits(name, split(x[train_idx], y[train_idx]), split(x[val_idx], y[val_idx]),
                         split(xt, yt), spec["classes"], 3, 32)


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (torchvision's downloader: redirects, progress)."""
    from torchvision.datasets.utils import download_url

    download_url(url, str(dest.parent), dest.name)


def _download(spec: dict, root: Path) -> None:
    """Fetch the archive (unless a verified one is there), check its MD5, extract it. A failed, partial or
    corrupt download is deleted, so the next try starts clean; every failure is one line."""
    url, md5 = spec["url"], spec["md5"]
    root.mkdir(parents=True, exist_ok=True)
    archive = root / url.rsplit("/", 1)[1]
    if archive.is_file() and md5_of(archive) != md5:
        archive.unlink()  # left by an interrupted or corrupt earlier download
    if not archive.is_file():
        part = archive.with_name(archive.name + ".part")
        part.unlink(missing_ok=True)  # a killed run's leftover: the downloader would take it as complete
        try:
            _fetch(url, part)
        except BaseException as e:
            part.unlink(missing_ok=True)
            if not isinstance(e, Exception):
                raise  # Ctrl-C: the partial file is gone, nothing else to say
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise TndError(f"could not download {url} ({first}); deleted the partial file; retry --download, or "
                           f"fetch it elsewhere and put it in {root}/") from None
        got = md5_of(part)
        if got != md5:
            part.unlink()
            raise TndError(f"the download of {url} is corrupt (MD5 {got}, expected {md5}); deleted it; "
                           "retry --download")
        os.replace(part, archive)
    _extract(archive, root, spec["folder"])


def _extract(archive: Path, root: Path, folder: str) -> None:
    """Extract into a temporary folder and move the dataset's folder into place only when complete."""
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        if not (tmp / folder).is_dir():
            raise tarfile.TarError(f"no {folder}/ inside")
        shutil.rmtree(root / folder, ignore_errors=True)   # an incomplete folder from an older tnd
        os.replace(tmp / folder, root / folder)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        archive.unlink(missing_ok=True)
        raise TndError(f"{archive} could not be extracted ({type(e).__name__}: {str(e)[:120]}); deleted it; "
                       "retry --download") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
