"""Stage registries: confcam's sources, detectors and sinks come from one table per family, and a package
installed beside confcam adds its own source or sink through an entry point, usable from the command line
without changing confcam; a detector model file's arch chooses the detector that reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import onnx
import pytest

from confcam.build import build_detector
from confcam.classify import smoother_registry
from confcam.classify.registry import ModelRegistry
from confcam.cli import main
from confcam.config import PipelineConfig, SinkConfig, SourceConfig
from confcam.detect import detector_registry
from confcam.detect.blazeface import BlazeFaceDetector
from confcam.detect.focus import FocusConfig
from confcam.errors import ConfcamError
from confcam.plugins import Entry, Option, Registry
from confcam.render import style_registry
from confcam.sinks import sink_registry
from confcam.sources import source_registry
from confcam.sources.file import FileSource
from tests.conftest import video

REPO = Path(__file__).resolve().parents[1]

PLUGIN_MODULE = '''
"""A sink from outside confcam: counts faces per frame and writes the counts as JSON at the end."""
import json
from pathlib import Path

from confcam.plugins import Entry, Option
from confcam.sinks.base import Sink


class FaceCountSink(Sink):
    name = "facecount"
    needs_image = False

    def __init__(self, path):
        self.path = Path(path)
        self.counts = []

    def write(self, result):
        self.counts.append(len(result.faces))

    def close(self, success=True):
        if success:
            self.path.write_text(json.dumps({"faces_per_frame": self.counts}))


ENTRY = Entry(
    "facecount",
    "Faces per frame, as JSON.",
    lambda count_file: FaceCountSink(count_file),
    (Option("count_file", Path, "Face-count sink: JSON to write.", required="--count-file PATH.json", writes_file=True),),
)
'''

SOURCE_MODULE = '''
"""A source from outside confcam: the PNG pictures of a folder, in name order, as a 10 FPS recording."""
import time
from pathlib import Path

import cv2

from confcam.plugins import Entry, Option
from confcam.sources.base import Source
from confcam.types import Frame


class FolderSource(Source):
    name = "folder"

    def __init__(self, folder):
        self.paths = sorted(Path(folder).glob("*.png"))
        self._fps = 10.0
        self._next = 0

    def open(self):
        height, width = cv2.imread(str(self.paths[0])).shape[:2]
        self._size = (width, height)

    def read(self):
        if self._next >= len(self.paths):
            return None
        image = cv2.imread(str(self.paths[self._next]))
        frame = Frame(image, self._next, self._next / self._fps, time.perf_counter())
        self._next += 1
        return frame

    def close(self):
        pass

    @property
    def is_live(self):
        return False


ENTRY = Entry(
    "folder",
    "PNG pictures of a folder, as frames.",
    lambda context, frames_dir: FolderSource(frames_dir),
    (Option("frames_dir", Path, "Folder source: PNG frames to play.", required="--frames-dir DIR", reads_file=True),),
)
'''

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "confcam-facecount"
version = "0.1"

[tool.setuptools]
py-modules = ["confcam_facecount", "confcam_folder", "confcam_broken"]

[project.entry-points."confcam.sinks"]
facecount = "confcam_facecount:ENTRY"
broken = "confcam_broken:ENTRY"

[project.entry-points."confcam.sources"]
folder = "confcam_folder:ENTRY"
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """A real `pip install` of a three-module plugin package into its own folder (offline, no build isolation)."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "src", root / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "confcam_facecount.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (source / "confcam_folder.py").write_text(textwrap.dedent(SOURCE_MODULE))
    (source / "confcam_broken.py").write_text("raise ImportError('this plugin needs a package that is not installed')\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


def confcam(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "confcam", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory) -> Path:
    """The first 12 frames of a real one-face clip, as PNG files (what the plugin's folder source reads)."""
    folder = tmp_path_factory.mktemp("frames")
    with FileSource(video("single_face.mp4")) as clip:
        for index in range(12):
            frame = clip.read()
            assert frame is not None
            cv2.imwrite(str(folder / f"{index:03d}.png"), frame.image)
    return folder


@pytest.mark.parametrize(
    "source_args,frames",
    [
        (["--source", "file", "--input", "{clip}", "--max-frames", "20"], 20),
        (["--source", "folder", "--frames-dir", "{frames}"], 12),
    ],
    ids=["builtin source, plugin sink", "plugin source, plugin sink"],
)
def test_installed_plugin_stages_run_from_the_command_line(plugin_site, frames_dir, tmp_path, source_args, frames):
    out = tmp_path / "counts.json"
    args = [a.format(clip=video("single_face.mp4"), frames=frames_dir) for a in source_args]
    done = confcam(plugin_site, "start", *args, "--sink", "facecount", "--count-file", str(out))
    assert done.returncode == 0, done.stderr
    counts = json.loads(out.read_text())["faces_per_frame"]
    assert len(counts) == frames
    assert sum(counts) >= frames * 3 // 4  # one face in (nearly) every frame of this clip


@pytest.mark.parametrize(
    "args,message",
    [
        (["--source", "sample", "--sink", "facecount"], "--sink facecount needs --count-file PATH.json"),
        (["--source", "folder", "--sink", "none"], "--source folder needs --frames-dir DIR"),
    ],
)
def test_a_plugin_option_is_required_like_a_builtin_one(plugin_site, args, message):
    done = confcam(plugin_site, "start", *args, "--max-frames", "5")
    assert done.returncode == 2
    assert done.stderr.strip() == f"confcam: error: {message}"


def test_plugins_lists_the_plugin_and_the_broken_one_without_failing(plugin_site):
    done = confcam(plugin_site, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_name = {(row["family"], row["name"]): row for row in report["stages"]}
    assert by_name["sink", "facecount"]["from"] == "confcam-facecount"
    assert by_name["source", "folder"]["from"] == "confcam-facecount"
    assert by_name["source", "folder"]["group"] == "confcam.sources"
    assert by_name["sink", "file"]["from"] == by_name["source", "file"]["from"] == "confcam"
    assert by_name["detector", "blazeface-full"]["group"] == "confcam.detectors"
    assert any("broken" in line and "not installed" in line for line in report["problems"])


@pytest.mark.parametrize(
    "registry,names",
    [
        (sink_registry, {"virtualcam", "panel", "window", "file", "events", "none"}),
        (source_registry, {"screen", "window", "camera", "file", "sample", "webrtc"}),
        (detector_registry, {"blazeface-short", "blazeface-full"}),
        (smoother_registry, {"evidence"}),
        (style_registry, {"emoji", "text", "ring", "all"}),
    ],
)
def test_confcams_own_stages_are_all_in_their_registry(registry, names):
    assert set(registry().names()) >= names


@pytest.mark.parametrize("model,input_size", [("blazeface-short", 128), ("blazeface-full", 192)])
def test_the_model_files_arch_chooses_the_detector(model, input_size):
    detector = build_detector(model, ModelRegistry(), FocusConfig())
    assert isinstance(detector, BlazeFaceDetector) and detector.input_size == input_size


def test_a_detector_file_of_an_unknown_arch_is_one_line(tmp_path, capsys):
    """A valid detector model file whose arch no installed detector reads: named, not run as BlazeFace."""
    model = onnx.load(str(ModelRegistry().resolve("blazeface-short", "detector").path))
    for prop in model.metadata_props:
        if prop.key == "confcam.arch":
            prop.value = "retinaface"
    path = tmp_path / "retinaface.onnx"
    onnx.save(model, str(path))
    assert main(["analyze", str(video("single_face.mp4")), "--detector", str(path), "--max-frames", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("confcam: error: ") and "\n" not in err
    assert "no detector reads confcam.arch='retinaface'; known: blazeface-short, blazeface-full" in err


@pytest.mark.parametrize(
    "kinds,options,message",
    [
        (("file",), {}, "--sink file needs --output PATH.mp4"),
        (("events",), {}, "--sink events needs --events PATH.jsonl"),
        (("none", "file"), {"output": "x.mp4"}, "--sink none cannot be combined with other sinks"),
        (("teleport",), {}, "unknown sink 'teleport'; known: "),
    ],
)
def test_sink_config_refuses_what_the_registry_does_not_allow(kinds, options, message):
    with pytest.raises(ConfcamError, match=message.replace("(", r"\(")):
        SinkConfig(kinds=kinds, options=options)


@pytest.mark.parametrize(
    "kind,options,message",
    [
        ("file", {}, "--source file needs --input PATH"),
        ("window", {}, "--source window needs --window-title TEXT"),
        ("screen", {"region": "1,2,3"}, "--region must be X,Y,W,H"),
        ("teleport", {}, "unknown source 'teleport'; known: "),
    ],
)
def test_source_config_refuses_what_the_registry_does_not_allow(kind, options, message):
    with pytest.raises(ConfcamError, match=message.replace("(", r"\(")):
        SourceConfig(kind=kind, options=options)


@pytest.mark.parametrize(
    "fields,message",
    [({"style": "sparkles"}, "unknown style 'sparkles'; known: "), ({"smoothing": "median"}, "unknown smoother 'median'")],
)
def test_pipeline_config_refuses_a_stage_no_registry_has(fields, message):
    with pytest.raises(ConfcamError, match=message):
        PipelineConfig(**fields)


def test_configs_name_the_files_they_will_read_and_write():
    sinks = SinkConfig(kinds=("file", "events"), options={"output": "a.mp4", "events": "b.jsonl", "device": "x"})
    assert sinks.output_files() == {"--output": Path("a.mp4"), "--events": Path("b.jsonl")}
    source = SourceConfig(kind="file", options={"input": Path("call.mp4"), "monitor": 2})
    assert source.input_files() == {"--input": Path("call.mp4")}


@pytest.mark.parametrize(
    "first,second,message",
    [
        (Entry("a", "", dict), Entry("a", "", dict), "two sinks are named 'a'"),
        (Entry("a", "", dict, (Option("path", Path),)), Entry("b", "", dict, (Option("path", str),)), "clashes"),
    ],
)
def test_a_registry_refuses_clashing_entries(first, second, message):
    registry: Registry = Registry("sink")
    registry.add(first)
    with pytest.raises(ConfcamError, match=message):
        registry.add(second)


def test_an_unknown_sink_on_the_command_line_is_one_line(capsys):
    assert main(["start", "--source", "sample", "--sink", "teleport"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("confcam: error: ") and "teleport" in err and "\n" not in err
