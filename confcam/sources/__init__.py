"""Where frames come from: screen, window, camera, file, sample clip, WebRTC."""
