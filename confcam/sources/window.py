"""A meeting window found by (part of) its title, captured where it is on screen, frame after frame.

How it behaves
- The title match is a case-insensitive substring ("zoom" finds "Zoom Meeting"). Windows that are
  hidden, minimised or empty are ignored. When several windows match, the LARGEST one is captured
  (a meeting's main window rather than its small toolbar or the app's home window); ties go to the
  front-most, most recently active one. The choice is logged and kept in `source.window`.
- Each read looks the window up again, so the capture FOLLOWS the window when it moves or is resized.
- The output size is fixed when the source opens (sinks such as a virtual camera cannot change size
  mid-stream). If the window is resized later, its picture is scaled to fit that size, keeping its
  aspect ratio, and padded with black (letterboxed).
- Parts of the window outside every monitor are black. What is captured is what the screen shows in
  the window's rectangle: another window on top of it is captured too, so keep the meeting uncovered.
- While the window is minimised or hidden, the last picture is repeated. When the window is closed,
  read() confirms it once more after a short pause and then returns None: the source has ended.

Platforms (the window's position comes from the platform, the pixels from mss)
- Linux / X11 (tested under Xvfb): python-xlib. Top-level windows come from the window manager's
  _NET_CLIENT_LIST_STACKING / _NET_CLIENT_LIST (EWMH); without such a window manager the window tree
  is walked instead. Titles from _NET_WM_NAME (UTF-8), else WM_NAME. The client window's absolute
  position is found with TranslateCoordinates, so the window manager's frame and title bar are left
  out. Wayland: only XWayland windows are visible (native Wayland windows cannot be captured this way).
- Windows: ctypes and user32. The process is made per-monitor DPI aware first, so coordinates are
  physical pixels like mss's. EnumWindows lists visible top-level windows front to back,
  GetWindowTextW gives titles, GetClientRect + ClientToScreen give the client area (no title bar or
  borders); IsIconic marks minimised windows and IsWindow tells when a window is gone.
- macOS: Quartz from pyobjc (`pip install pyobjc-framework-Quartz`), imported only when needed.
  CGWindowListCopyWindowInfo lists on-screen, layer-0 windows front to back; the title matched is
  "<application> - <window name>". macOS reveals window names only to apps with the Screen
  Recording permission, which screen capture needs anyway; without it only application names match.
  The bounds include the title bar (macOS gives no client rectangle to other processes).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from confcam.errors import SourceError
from confcam.imaging import letterbox
from confcam.plugins import Entry, Option
from confcam.sources.base import LiveClock, Source, SourceContext
from confcam.displays import ScreenGrabber, require_display
from confcam.sources.capture import FramePacer
from confcam.types import Frame

DEFAULT_FPS = 30.0
CLOSE_CHECK_S = 0.15
"""A window that has vanished is looked up once more after this pause before the source ends."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowInfo:
    """A top-level window: its platform handle, title, client rectangle and front-to-back rank."""

    handle: int
    title: str
    x: int
    y: int
    w: int
    h: int
    rank: int = 0
    """Higher is further in front (more recently active)."""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.handle, "title": self.title, "x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass(frozen=True)
class WindowPlace:
    """Where a known window is now; visible is False while it is minimised or unmapped."""

    x: int
    y: int
    w: int
    h: int
    visible: bool


class WindowSystem(Protocol):
    """What a platform must answer: which windows exist, and where one of them is now."""

    def windows(self) -> list[WindowInfo]: ...

    def place(self, handle: int) -> WindowPlace | None:
        """None once the window no longer exists."""

    def close(self) -> None: ...


class X11Windows:
    """Top-level windows of the X server in DISPLAY, through python-xlib."""

    def __init__(self) -> None:
        require_display()
        from Xlib import X, display, error

        self._X = X
        self._errors: tuple[type[BaseException], ...] = (error.XError, error.ConnectionClosedError)
        try:
            self._display = display.Display()
        except (error.DisplayError, OSError) as failure:
            raise SourceError(f"cannot connect to the X display: {failure}") from None
        self._root = self._display.screen().root
        self._utf8 = self._display.intern_atom("UTF8_STRING")
        self._net_wm_name = self._display.intern_atom("_NET_WM_NAME")

    def windows(self) -> list[WindowInfo]:
        try:
            found = []
            for rank, window in enumerate(self._candidates()):
                info = self._info(window, rank)
                if info is not None:
                    found.append(info)
            return found
        except self._errors as failure:
            raise SourceError(f"lost the X display while listing windows: {failure}") from None

    def place(self, handle: int) -> WindowPlace | None:
        window = self._display.create_resource_object("window", handle)
        try:
            geometry = window.get_geometry()
            origin = self._root.translate_coords(window, 0, 0)
            visible = window.get_attributes().map_state == self._X.IsViewable
        except self._errors:
            return None
        return WindowPlace(int(origin.x), int(origin.y), int(geometry.width), int(geometry.height), visible)

    def close(self) -> None:
        try:
            self._display.close()
        except self._errors:
            pass

    def _candidates(self) -> list[Any]:
        """Client windows, back to front: from the window manager if it says, else from the tree."""
        for name in ("_NET_CLIENT_LIST_STACKING", "_NET_CLIENT_LIST"):
            listed = self._root.get_full_property(self._display.intern_atom(name), self._X.AnyPropertyType)
            if listed is not None and len(listed.value):
                active = self._active_window()
                ids = [i for i in listed.value if i != active] + ([active] if active in listed.value else [])
                return [self._display.create_resource_object("window", int(i)) for i in ids]
        return self._titled_descendants(self._root, depth=2)

    def _active_window(self) -> int | None:
        active = self._root.get_full_property(self._display.intern_atom("_NET_ACTIVE_WINDOW"), self._X.AnyPropertyType)
        return int(active.value[0]) if active is not None and len(active.value) else None

    def _titled_descendants(self, parent: Any, depth: int) -> list[Any]:
        """Viewable children with a title; untitled ones (frames of a non-EWMH manager) are searched one level down."""
        found = []
        for child in parent.query_tree().children:
            try:
                if child.get_attributes().map_state != self._X.IsViewable:
                    continue
                if self._title(child):
                    found.append(child)
                elif depth > 1:
                    found.extend(self._titled_descendants(child, depth - 1))
            except self._errors[:1]:
                continue
        return found

    def _title(self, window: Any) -> str:
        prop = window.get_full_property(self._net_wm_name, self._utf8)
        value = prop.value if prop is not None else window.get_wm_name()
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        return value or ""

    def _info(self, window: Any, rank: int) -> WindowInfo | None:
        try:
            title = self._title(window)
            place = self.place(window.id)
        except self._errors[:1]:
            return None
        if not title or place is None or not place.visible:
            return None
        return WindowInfo(int(window.id), title, place.x, place.y, place.w, place.h, rank)


class Win32Windows:
    """Top-level windows of the Windows desktop, through user32 with ctypes."""

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        self._wintypes = wintypes
        # WinDLL and WINFUNCTYPE exist on Windows only, and mypy checks for the platform it runs on.
        self._user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._declare()
        self._make_dpi_aware()

    def windows(self) -> list[WindowInfo]:
        handles: list[int] = []
        # Windows only, as WinDLL above.
        callback_type = self._ctypes.WINFUNCTYPE(  # type: ignore[attr-defined,unused-ignore]
            self._wintypes.BOOL, self._wintypes.HWND, self._wintypes.LPARAM
        )

        def collect(hwnd: int, _: int) -> bool:
            handles.append(int(hwnd or 0))
            return True

        self._user32.EnumWindows(callback_type(collect), 0)
        found = []
        for order, hwnd in enumerate(handles):
            if not hwnd or not self._user32.IsWindowVisible(hwnd) or self._user32.IsIconic(hwnd):
                continue
            title = self._title(hwnd)
            place = self.place(hwnd)
            if title and place is not None and place.visible:
                found.append(WindowInfo(hwnd, title, place.x, place.y, place.w, place.h, rank=len(handles) - order))
        return found

    def place(self, handle: int) -> WindowPlace | None:
        user32 = self._user32
        if not user32.IsWindow(handle):
            return None
        rect = self._wintypes.RECT()
        origin = self._wintypes.POINT(0, 0)
        if not user32.GetClientRect(handle, self._ctypes.byref(rect)) or not user32.ClientToScreen(
            handle, self._ctypes.byref(origin)
        ):
            return None
        visible = bool(user32.IsWindowVisible(handle)) and not user32.IsIconic(handle)
        return WindowPlace(int(origin.x), int(origin.y), int(rect.right - rect.left), int(rect.bottom - rect.top), visible)

    def close(self) -> None:
        """Nothing to release: user32 is not a connection."""

    def _title(self, hwnd: int) -> str:
        length = self._user32.GetWindowTextLengthW(hwnd)
        if length <= 0:
            return ""
        buffer = self._ctypes.create_unicode_buffer(length + 1)
        self._user32.GetWindowTextW(hwnd, buffer, length + 1)
        return buffer.value

    def _declare(self) -> None:
        """Full prototypes, so 64-bit window handles are never truncated to C ints."""
        w = self._wintypes
        ctypes = self._ctypes
        user32 = self._user32
        prototypes = {
            "IsWindow": ([w.HWND], w.BOOL),
            "IsWindowVisible": ([w.HWND], w.BOOL),
            "IsIconic": ([w.HWND], w.BOOL),
            "GetWindowTextLengthW": ([w.HWND], ctypes.c_int),
            "GetWindowTextW": ([w.HWND, w.LPWSTR, ctypes.c_int], ctypes.c_int),
            "GetClientRect": ([w.HWND, ctypes.POINTER(w.RECT)], w.BOOL),
            "ClientToScreen": ([w.HWND, ctypes.POINTER(w.POINT)], w.BOOL),
        }
        for name, (argtypes, restype) in prototypes.items():
            function = getattr(user32, name)
            function.argtypes = argtypes
            function.restype = restype

    def _make_dpi_aware(self) -> None:
        """Per-monitor v2 where available (Windows 10 1703+), else system-wide DPI awareness."""
        per_monitor_v2 = self._ctypes.c_void_p(-4)
        try:
            if self._user32.SetProcessDpiAwarenessContext(per_monitor_v2):
                return
        except AttributeError:
            pass
        try:
            self._user32.SetProcessDPIAware()
        except AttributeError:
            pass


class QuartzWindows:
    """On-screen application windows of macOS, through pyobjc's Quartz bindings."""

    def __init__(self) -> None:
        try:
            import Quartz
        except ImportError:
            raise SourceError(
                "window capture on macOS needs pyobjc's Quartz: pip install pyobjc-framework-Quartz"
            ) from None
        self._quartz = Quartz

    def windows(self) -> list[WindowInfo]:
        q = self._quartz
        options = q.kCGWindowListOptionOnScreenOnly | q.kCGWindowListExcludeDesktopElements
        infos = list(q.CGWindowListCopyWindowInfo(options, q.kCGNullWindowID) or [])
        found = []
        for order, info in enumerate(infos):
            if info.get(q.kCGWindowLayer, 0) != 0:
                continue
            owner = str(info.get(q.kCGWindowOwnerName) or "")
            name = str(info.get(q.kCGWindowName) or "")
            title = f"{owner} - {name}" if name else owner
            place = self._place_of(info)
            if title and place.w > 0 and place.h > 0:
                handle = int(info[q.kCGWindowNumber])
                found.append(WindowInfo(handle, title, place.x, place.y, place.w, place.h, rank=len(infos) - order))
        return found

    def place(self, handle: int) -> WindowPlace | None:
        q = self._quartz
        infos = list(q.CGWindowListCopyWindowInfo(q.kCGWindowListOptionIncludingWindow, handle) or [])
        infos = [i for i in infos if int(i.get(q.kCGWindowNumber, -1)) == handle]
        return self._place_of(infos[0]) if infos else None

    def close(self) -> None:
        """Nothing to release."""

    def _place_of(self, info: Any) -> WindowPlace:
        q = self._quartz
        bounds = info.get(q.kCGWindowBounds) or {}
        visible = bool(info.get(q.kCGWindowIsOnscreen, True))
        return WindowPlace(
            int(bounds.get("X", 0)), int(bounds.get("Y", 0)), int(bounds.get("Width", 0)), int(bounds.get("Height", 0)), visible
        )


def window_system() -> WindowSystem:
    """The platform's way of finding windows."""
    if sys.platform == "win32":
        return Win32Windows()
    if sys.platform == "darwin":
        return QuartzWindows()
    return X11Windows()


def list_windows() -> list[dict[str, Any]]:
    """Visible titled top-level windows as {id, title, x, y, w, h}, front-most first."""
    system = window_system()
    try:
        windows = system.windows()
    finally:
        system.close()
    return [w.as_dict() for w in sorted(windows, key=lambda w: -w.rank)]


def matching_windows(windows: list[WindowInfo], title: str) -> list[WindowInfo]:
    """Windows whose title contains `title` (case-insensitive), the one to capture first."""
    needle = title.casefold()
    found = [w for w in windows if needle in w.title.casefold() and w.w > 0 and w.h > 0]
    return sorted(found, key=lambda w: (w.w * w.h, w.rank), reverse=True)


class WindowSource(Source):
    """The client area of the window whose title contains `title`; see the module docstring."""

    def __init__(self, title: str, fps: float = DEFAULT_FPS) -> None:
        self.title = title
        self._fps = fps
        self.name = f'window "{title}"'
        self.window: WindowInfo | None = None
        """The window being captured, chosen at open()."""
        self._system: WindowSystem | None = None
        self._grabber: ScreenGrabber | None = None
        self._screen = (0, 0, 0, 0)
        self._size = (0, 0)
        self._last: np.ndarray | None = None
        self._pacer = FramePacer(fps)
        self._clock = LiveClock()
        self._ended = False

    def open(self) -> None:
        if not self.title.strip():
            raise SourceError("the window title to look for is empty")
        if self._fps <= 0:
            raise SourceError(f"window capture rate must be positive, not {self._fps}")
        system = window_system()
        grabber = ScreenGrabber()
        try:
            windows = system.windows()
            matches = matching_windows(windows, self.title)
            if not matches:
                raise SourceError(f'no window title contains "{self.title}" ({_some_titles(windows)})')
            self._screen = _bounds(grabber.monitors()[0])
        except BaseException:
            grabber.close()
            system.close()
            raise
        self.window = matches[0]
        if len(matches) > 1:
            log.info(
                '%d windows match "%s"; capturing the largest: "%s" (%dx%d)',
                len(matches), self.title, self.window.title, self.window.w, self.window.h,
            )
        self.name = f'window "{self.window.title}"'
        self._system = system
        self._grabber = grabber
        self._size = (self.window.w, self.window.h)
        self._last = None
        self._pacer = FramePacer(self._fps)
        self._ended = False
        self._clock = LiveClock()

    def read(self) -> Frame | None:
        if self._system is None or self._grabber is None or self.window is None or self._ended:
            return None
        self._pacer.wait()
        place = self._system.place(self.window.handle)
        if place is None:
            time.sleep(CLOSE_CHECK_S)
            place = self._system.place(self.window.handle)
        if place is None:
            self._ended = True
            self.end_reason = f"{self.name} was closed"
            log.info("%s was closed; the source has ended", self.name)
            return None
        if place.visible or self._last is None:
            self._last = self._capture(place)
            image = self._last
        else:
            image = self._last.copy()
        return self._clock.frame(image)

    def close(self) -> None:
        if self._grabber is not None:
            self._grabber.close()
            self._grabber = None
        if self._system is not None:
            self._system.close()
            self._system = None
        self._last = None

    def _capture(self, place: WindowPlace) -> np.ndarray:
        """The window's rectangle as shown on screen (black outside the monitors), fitted to the output size."""
        assert self._grabber is not None
        canvas = np.zeros((max(place.h, 1), max(place.w, 1), 3), dtype=np.uint8)
        sx, sy, sw, sh = self._screen
        left, top = max(place.x, sx), max(place.y, sy)
        right, bottom = min(place.x + place.w, sx + sw), min(place.y + place.h, sy + sh)
        if right > left and bottom > top and place.visible:
            pw, ph = right - left, bottom - top
            pixels = self._grabber.grab(left, top, pw, ph)
            if pixels.shape[:2] != (ph, pw):
                pixels = cv2.resize(pixels, (pw, ph), interpolation=cv2.INTER_AREA)
            oy, ox = top - place.y, left - place.x
            canvas[oy : oy + ph, ox : ox + pw] = pixels
        return letterbox(canvas, self._size)


def _bounds(monitor: dict[str, int]) -> tuple[int, int, int, int]:
    return (int(monitor["left"]), int(monitor["top"]), int(monitor["width"]), int(monitor["height"]))


def _some_titles(windows: list[WindowInfo], limit: int = 6) -> str:
    titles = sorted({w.title for w in windows})
    if not titles:
        return "no titled windows are open"
    shown = ", ".join(f'"{t}"' for t in titles[:limit])
    more = f" and {len(titles) - limit} more" if len(titles) > limit else ""
    return f"open windows: {shown}{more}; `confcam devices` lists them"


def _window(context: SourceContext, window_title: str) -> WindowSource:
    return WindowSource(window_title)


ENTRY = Entry(
    "window",
    "One application's window, found by its title, wherever it moves.",
    _window,
    (
        Option(
            "window_title", str, 'Window source: (part of) the window title, e.g. "Zoom Meeting".',
            required='--window-title TEXT (e.g. --window-title "Zoom Meeting")',
        ),
    ),
)
