"""Expression classification: model files, cropping, smoothing."""
