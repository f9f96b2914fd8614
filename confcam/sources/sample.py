"""The bundled sample clip, so confcam can be tried (and tested) without a camera or a call."""

from __future__ import annotations

from confcam.errors import SourceError
from confcam.paths import sample_clip
from confcam.plugins import Entry
from confcam.sources.base import SourceContext
from confcam.sources.file import LOOP, FileSource


class SampleSource(FileSource):
    """confcam/assets/sample.mp4 (one person, changing expressions; see assets/README.md)."""

    def __init__(self, pace: bool = False, loop: bool = False) -> None:
        super().__init__(sample_clip(), pace=pace, loop=loop)
        self.name = "sample clip"

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"the bundled sample clip is missing ({self.path}); reinstall confcam")
        super().open()


def _sample(context: SourceContext, loop: bool) -> SampleSource:
    return SampleSource(pace=context.pace, loop=loop)


ENTRY = Entry("sample", "The bundled sample clip: try confcam with no camera and no call.", _sample, (LOOP,))
