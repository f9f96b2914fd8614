"""The screen (one monitor, or a region of it) through mss: the way to catch every tile of a call."""

from __future__ import annotations


from confcam.errors import ConfcamError, SourceError
from confcam.plugins import Entry, Option
from confcam.sources.base import LiveClock, Source, SourceContext
from confcam.displays import ScreenGrabber
from confcam.sources.capture import FramePacer
from confcam.types import Frame

DEFAULT_FPS = 30.0


class ScreenSource(Source):
    """Monitor `monitor` (1 = first, 0 = all monitors together), or region (x, y, w, h) within it.

    The region is relative to the monitor's top-left corner and must lie inside the monitor.
    Frames are captured at most `fps` times a second.
    """

    def __init__(
        self,
        monitor: int = 1,
        region: tuple[int, int, int, int] | None = None,
        fps: float = DEFAULT_FPS,
    ) -> None:
        self.monitor = monitor
        self.region = region
        self._fps = fps
        self.name = f"monitor {monitor}" if region is None else f"region {region} of monitor {monitor}"
        self._grabber: ScreenGrabber | None = None
        self._area = (0, 0, 0, 0)
        self._pacer = FramePacer(fps)
        self._clock = LiveClock()

    def open(self) -> None:
        if self._fps <= 0:
            raise SourceError(f"screen capture rate must be positive, not {self._fps}")
        grabber = ScreenGrabber()
        try:
            self._area = self._capture_area(grabber.monitors())
            grabber.grab(*self._area)
        except SourceError:
            grabber.close()
            raise
        self._grabber = grabber
        self._pacer = FramePacer(self._fps)
        self._clock = LiveClock()

    def read(self) -> Frame | None:
        if self._grabber is None:
            return None
        self._pacer.wait()
        image = self._grabber.grab(*self._area)
        return self._clock.frame(image)

    def close(self) -> None:
        if self._grabber is not None:
            self._grabber.close()
            self._grabber = None

    @property
    def size(self) -> tuple[int, int]:
        return (self._area[2], self._area[3])

    def _capture_area(self, monitors: list[dict[str, int]]) -> tuple[int, int, int, int]:
        if not 0 <= self.monitor < len(monitors):
            raise SourceError(
                f"no monitor {self.monitor}: choose 1..{len(monitors) - 1} (0 = all together; `confcam devices` lists them)"
            )
        mon = monitors[self.monitor]
        if self.region is None:
            return (mon["left"], mon["top"], mon["width"], mon["height"])
        x, y, w, h = (int(v) for v in self.region)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > mon["width"] or y + h > mon["height"]:
            raise SourceError(
                f"region {x},{y},{w},{h} does not fit monitor {self.monitor} ({mon['width']}x{mon['height']}): "
                "x,y must be >= 0, w,h > 0 and x+w, y+h within the monitor"
            )
        return (mon["left"] + x, mon["top"] + y, w, h)


def parse_region(text: str | None) -> tuple[int, int, int, int] | None:
    """'X,Y,W,H' -> a tuple; a one-line error for anything else."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ConfcamError(f"--region must be X,Y,W,H in pixels (got {text!r})") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ConfcamError(f"--region needs x, y >= 0 and width, height > 0 (got {text!r})")
    return x, y, w, h


def _screen(context: SourceContext, monitor: int, region: tuple[int, int, int, int] | None) -> ScreenSource:
    return ScreenSource(monitor=monitor, region=region)


ENTRY = Entry(
    "screen",
    "A monitor, or a part of it: where the meeting is.",
    _screen,
    (
        Option("monitor", int, "Screen source: monitor number (see `confcam devices`).", default=1),
        Option("region", str, "Screen source: capture only X,Y,W,H of the monitor.", parse=parse_region),
    ),
)
