"""Every user mistake on the command line: one line on stderr, exit code 2, no traceback, no output file."""

from pathlib import Path

import numpy as np
import pytest

from confcam.cli import main
from tests.conftest import video


def run_cli(capsys, args: list[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


@pytest.fixture
def bad_npz(tmp_path: Path) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((3, 48, 48), np.uint8))
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    return path


CASES = {
    "file source without input": (["start", "--source", "file", "--sink", "none"], "--input"),
    "window source without title": (["start", "--source", "window", "--sink", "none"], "--window-title"),
    "missing input file": (["start", "--source", "file", "--input", "{tmp}/nope.mp4", "--sink", "none"], "nope.mp4"),
    "input that is not a video": (["start", "--source", "file", "--input", "{text}", "--sink", "none"], "notes.mp4"),
    "malformed region": (["start", "--source", "screen", "--region", "1,2,3", "--sink", "none"], "--region"),
    "negative region": (["start", "--source", "screen", "--region", "0,0,-5,10", "--sink", "none"], "--region"),
    "file sink without output": (["start", "--source", "sample", "--sink", "file"], "--output"),
    "events sink without path": (["start", "--source", "sample", "--sink", "events"], "--events"),
    "none mixed with another sink": (["start", "--source", "sample", "--sink", "none", "--sink", "window"], "none"),
    "unknown source": (["start", "--source", "telepathy"], "telepathy"),
    "unknown sink": (["start", "--sink", "printer"], "printer"),
    "unknown model name": (["analyze", "{clip}", "--model", "no-such-model"], "no-such-model"),
    "model path that is not onnx": (["analyze", "{clip}", "--model", "{text}"], "notes.mp4"),
    "analyze missing file": (["analyze", "{tmp}/ghost.mp4"], "ghost.mp4"),
    "analyze json into missing folder": (["analyze", "{clip}", "--json", "{tmp}/no/dir/out.json"], "does not exist"),
    "demo output into missing folder": (["demo", "--no-show", "--output", "{tmp}/no/dir/demo.mp4"], "does not exist"),
    "eval npz without x and y": (["eval", "{npz}"], "bad.npz"),
    "eval missing npz": (["eval", "{tmp}/none.npz"], "none.npz"),
    "unknown models info": (["models", "info", "nobody"], "nobody"),
    "unknown detector": (["analyze", "{clip}", "--detector", "nodetector"], "nodetector"),
    "three pooled detectors": (
        ["analyze", "{clip}", "--detector", "blazeface-short+blazeface-full+blazeface-short"],
        "near+far",
    ),
    "timeline picture not png": (["analyze", "{clip}", "--plot", "{tmp}/timeline.svg"], "--plot"),
    "zero max frames": (["start", "--source", "sample", "--sink", "none", "--max-frames", "0"], "max-frames"),
    "web token too short": (["web", "--token", "short"], "--token"),
    "web token with a space": (["web", "--token", "sixteen chars or more"], "--token"),
    "web zero sessions": (["web", "--max-sessions", "0"], "--max-sessions"),
    "webrtc source zero sessions": (["start", "--source", "webrtc", "--sink", "none", "--max-sessions", "0"], "--max-sessions"),
    "web port out of range": (["web", "--port", "70000"], "--port"),
    "webrtc source token too short": (["start", "--source", "webrtc", "--sink", "none", "--token", "abc"], "--token"),
    "unknown steadiness name": (["analyze", "{clip}", "--steadiness", "sleepy"], "--steadiness"),
    "zero steadiness seconds": (["start", "--source", "sample", "--sink", "none", "--steadiness", "0"], "--steadiness"),
    "negative steadiness seconds": (["web", "--steadiness", "-1"], "--steadiness"),
    "steadiness that is not a number": (["analyze", "{clip}", "--steadiness", "nan"], "--steadiness"),
    "steadiness beyond reason": (["start", "--source", "sample", "--sink", "none", "--steadiness", "600"], "--steadiness"),
    "practice file source without input": (["practice", "--source", "file"], "--input"),
    "practice missing input file": (["practice", "--source", "file", "--input", "{tmp}/nope.mp4"], "nope.mp4"),
    "practice progress into missing folder": (["practice", "--save-progress", "{tmp}/no/dir/progress.json"], "does not exist"),
    "practice progress that is the input": (
        ["practice", "--source", "file", "--input", "{clip}", "--save-progress", "{clip}"], "--save-progress"
    ),
    "practice progress that is not progress": (["practice", "--save-progress", "{text}"], "not a confcam practice progress"),
    "practice progress that is a folder": (["practice", "--save-progress", "{tmp}"], "folder"),
    "practice from a webrtc source": (["practice", "--source", "webrtc"], "confcam web"),
    "practice unknown steadiness": (["practice", "--steadiness", "sleepy"], "--steadiness"),
}


@pytest.mark.parametrize("args,needle", list(CASES.values()), ids=list(CASES))
def test_user_mistake_gives_one_line_and_exit_code_2(capsys, tmp_path, text_file, bad_npz, args, needle):
    clip = video("single_face.mp4")
    filled = [a.format(tmp=tmp_path, text=text_file, npz=bad_npz, clip=clip) for a in args]
    code, err = run_cli(capsys, filled)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1, err
    assert lines[0].startswith("confcam: error:")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not list((tmp_path).glob("**/*.json")) and not list(tmp_path.glob("**/demo*.mp4"))
