"""`tnd export`: a training checkpoint to a verified ONNX file (calls tnd.deploy.export_onnx)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from tnd.deploy import export_onnx

    report = export_onnx(args.checkpoint, args.out, opset=args.opset, tolerance=args.tolerance)
    print(f"wrote {report.path} (opset {report.opset}, input {'x'.join(map(str, report.input_shape))}, "
          f"dynamic batch)")
    for batch, diff in report.max_abs_diff.items():
        print(f"  batch {batch}: max abs diff vs PyTorch {diff:.3g} (tolerance {args.tolerance:g})")
    meta = report.metadata
    facts = [f"{meta['params'] / 1e6:.3f}M params" if "params" in meta else "",
             f"test accuracy {meta['test_accuracy']:.4f}" if "test_accuracy" in meta else "",
             f"dataset {meta['dataset']}" if "dataset" in meta else ""]
    if any(facts):
        print("  " + ", ".join(f for f in facts if f))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained checkpoint to ONNX, verified with onnxruntime",
                       description="Export a `tnd train` checkpoint to ONNX (dynamic batch, genotype in the "
                                   "metadata); the file is written only if onnxruntime matches PyTorch.")
    p.add_argument("checkpoint", help="checkpoint.pt written by `tnd train`")
    p.add_argument("--out", required=True, help="ONNX file to write, e.g. model.onnx")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (11-20, default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted |onnxruntime - PyTorch| on the logits (default 1e-4)")
    p.set_defaults(func=run)
