"""`confcam train` under torchrun: two CPU processes (gloo) share every batch and end where one process
with the same global batch ends; the flags are the same either way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.train.distributed import Distributed
from confcam.train.run import TrainRequest, run_training
from confcam.train.trainer import TrainConfig, Trainer
from tests.conftest import FER2013, fer_hdf5


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not FER2013.is_file():
        pytest.skip(f"shared FER2013 file {FER2013} is missing")
    path = tmp_path_factory.mktemp("fer") / "faces.npz"
    with np.load(FER2013) as data:
        pick = np.linspace(0, len(data["y_train"]) - 1, 64).astype(int)
        np.savez(path, x=data["x_train"][pick], y=data["y_train"][pick], labels=data["labels"])
    return path


def request(faces: Path, out: Path) -> TrainRequest:
    """Four steps of a global batch of 8, BatchNorm frozen (temporal tuning), so the split over processes is
    the only thing that differs between the runs."""
    return TrainRequest(arch="timeconvnet-minixception", data=[str(faces)], epochs=1, out=out, size=64,
                        batch_size=8, lr=1e-2, epoch_limit=32, init=fer_hdf5(), tune="temporal",
                        cache=out.parent / "cache" / "windows")


def torchrun_args(r: TrainRequest) -> list[str]:
    return ["train", "--arch", r.arch, "--data", *r.data, "--epochs", str(r.epochs), "--out", str(r.out),
            "--size", str(r.size), "--batch-size", str(r.batch_size), "--lr", str(r.lr), "--epoch-limit",
            str(r.epoch_limit), "--init", str(r.init), "--tune", r.tune, "--cache", str(r.cache)]


def test_two_processes_train_the_same_model_as_one_with_the_global_batch(faces: Path, tmp_path: Path) -> None:
    single = request(faces, tmp_path / "one" / "model.onnx")
    single.out.parent.mkdir()
    run_training(single)
    shared = request(faces, tmp_path / "two" / "model.onnx")
    shared.out.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "confcam",
         *torchrun_args(shared)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes on cpu (global batch 8)" in " ".join(result.stderr.split())
    history = torch.load(shared.out.parent / "cache" / "checkpoints" / "model.ckpt", weights_only=False)["history"]
    assert history[0]["windows"] == 32, "4 steps x the global batch of 8, split over both processes"
    probe = np.random.default_rng(0).integers(0, 256, (16, 5, 64, 64), dtype=np.uint8)
    one, two = (ExpressionModel(r.out).predict(probe.astype(np.float32) / 255.0) for r in (single, shared))
    untrained = Trainer(TrainConfig(arch=single.arch, epochs=1, size=64, batch_size=8, init=str(fer_hdf5()),
                                    tune="temporal"), None, None, announce=lambda _: None).predict_windows(probe)
    assert np.abs(one - untrained).max() > 1e-3, "the four steps changed the model"
    assert np.abs(one - two).max() < 1e-4, "same steps, same weights"


def test_a_global_batch_that_does_not_split_evenly_is_a_one_line_error() -> None:
    with pytest.raises(ConfcamError, match="split evenly over 2 processes"):
        Distributed(rank=0, world=2).check_batch(9)


def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ConfcamError, match="no CUDA GPU"):
        Distributed.start("cuda")
