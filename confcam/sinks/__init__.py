"""Where results go: virtual camera, side panel, window, file, events timeline."""
