"""Deployment: train a genotype from scratch (`tnd train`) and export it to verified ONNX (`tnd export`)."""

from tnd.deploy.checkpoint import FORMAT, load_checkpoint, model_from_checkpoint, save_checkpoint
from tnd.deploy.export import ExportReport, export_onnx, read_metadata
from tnd.deploy.genotype_ref import resolve_genotype
from tnd.deploy.train import TrainConfig, load_train_config, train

__all__ = [
    "FORMAT", "ExportReport", "TrainConfig", "export_onnx", "load_checkpoint", "load_train_config",
    "model_from_checkpoint", "read_metadata", "resolve_genotype", "save_checkpoint", "train",
]
