"""Stage registries: confcam's sinks come from one table, and a package installed beside confcam adds its
own sink through an entry point, usable from the command line without changing confcam."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from confcam.cli import main
from confcam.config import SinkConfig
from confcam.errors import ConfcamError
from confcam.plugins import Entry, Option, Registry
from confcam.sinks import sink_registry
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

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "confcam-facecount"
version = "0.1"

[tool.setuptools]
py-modules = ["confcam_facecount", "confcam_broken"]

[project.entry-points."confcam.sinks"]
facecount = "confcam_facecount:ENTRY"
broken = "confcam_broken:ENTRY"
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """A real `pip install` of a two-file plugin package into its own folder (offline, no build isolation)."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "src", root / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "confcam_facecount.py").write_text(textwrap.dedent(PLUGIN_MODULE))
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


def test_an_installed_plugin_sink_runs_from_the_command_line(plugin_site, tmp_path):
    out = tmp_path / "counts.json"
    done = confcam(plugin_site, "start", "--source", "file", "--input", str(video("single_face.mp4")),
                   "--sink", "facecount", "--count-file", str(out), "--max-frames", "20")
    assert done.returncode == 0, done.stderr
    counts = json.loads(out.read_text())["faces_per_frame"]
    assert len(counts) == 20
    assert sum(counts) >= 15  # one face in (nearly) every frame of this clip


def test_a_plugin_sink_option_is_required_like_a_builtin_one(plugin_site):
    done = confcam(plugin_site, "start", "--source", "sample", "--sink", "facecount", "--max-frames", "5")
    assert done.returncode == 2
    assert done.stderr.strip() == "confcam: error: --sink facecount needs --count-file PATH.json"


def test_plugins_lists_the_plugin_and_the_broken_one_without_failing(plugin_site):
    done = confcam(plugin_site, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_name = {row["name"]: row for row in report["stages"]}
    assert by_name["facecount"]["from"] == "confcam-facecount"
    assert by_name["file"]["from"] == "confcam"
    assert any("broken" in line and "not installed" in line for line in report["problems"])


def test_confcams_own_sinks_are_all_in_the_registry():
    assert set(sink_registry().names()) >= {"virtualcam", "panel", "window", "file", "events", "none"}


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


def test_sink_config_names_the_files_it_will_write():
    config = SinkConfig(kinds=("file", "events"), options={"output": "a.mp4", "events": "b.jsonl", "device": "x"})
    assert config.output_files() == {"--output": Path("a.mp4"), "--events": Path("b.jsonl")}


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
