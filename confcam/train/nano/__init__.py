"""EmotionNet Nano: a design space around the thesis' human-made prototype, the network a spec builds,
and the constrained machine-driven search over the space (`confcam train search`)."""
