#!/usr/bin/env bash
# The prepared run for a lent GPU machine (the `device` tool): train a larger story model in
# under 10 minutes and leave its export in $OUT (which the tool brings back).
#
#   run: bash scripts/train_model_gpu.sh            (on the device, from the repository root)
#
# Needs ../shared/corpus (or CORPUS=...) and a CUDA build of torch there. The export is a
# plain Hugging Face model directory; copy it over bot/models/tiny_story only if its
# validation bits/byte beat the bundled model's (training_metrics.json has both splits).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the script imports plugins.kit
CORPUS="${CORPUS:-../shared/corpus}"
OUT="${OUT:-runs/gpu_export}"
MINUTES="${MINUTES:-8}"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
python scripts/train_model.py "$CORPUS" \
  --out "$OUT/model" --run-dir "$OUT/run" \
  --preset gpu --device cuda --compile \
  --max-minutes "$MINUTES" --eval-minutes 1 --no-progress
cp "$OUT/model/training_metrics.json" "$OUT/training_metrics.json"
