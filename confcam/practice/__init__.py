"""Practice mode: learn to read faces at home. Labels are hidden; confcam pauses on a face it reads with
confidence, asks what it shows, then reveals its own reading with a one-line cue, and keeps a score."""
