"""The browser demo page and WebRTC edge."""
