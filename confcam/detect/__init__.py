"""Face detection (BlazeFace run by onnxruntime)."""
