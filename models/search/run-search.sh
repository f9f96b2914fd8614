#!/bin/bash
# EmotionNet Nano search (issue 14): resumable; rerun to add trials, or add
# `--trials 0 --export models` to retrain the chosen candidates (resumes from their checkpoints).
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
F=../shared/data/fer2013/fer2013_train_publictest.npz
exec confcam train search --study models/search/emotionnet-nano.db --data $F:train --val $F:publictest \
  --votes ../shared/data/fer2013/ferplus_votes.npz --subset 10000 --epochs 4 --trials 14 --timeout 4500 \
  --max-params 250000 --max-ms-per-face 0.5 --min-accuracy 0.40 --plot docs/results/nano-pareto.png \
  --threads 1 --seed 0 "$@"
