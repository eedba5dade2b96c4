"""Datasets as in-memory tensor splits: the embedded digits, and CIFAR-10/100 from their pickle files."""

from tnd.data.datasets import DATASETS, DatasetSplits, Split, cutout, ensure_downloaded, load_dataset

__all__ = ["DATASETS", "DatasetSplits", "Split", "cutout", "ensure_downloaded", "load_dataset"]
