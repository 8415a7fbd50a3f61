#!/bin/sh
# Train kinema-micro from scratch, reproducibly from one seed, in one go (3,020 s measured on 2 idle cores; see training/README.md):
#   autoencoder (1,000 steps), encode 24,000 clips, then text encoder + DiT (7,000 steps, batch 32).
# Usage: training/train.sh [output dir, default training/runs/main] [extra train.py flags]
# Result: <output dir>/model.pt; the log is <output dir>/train.log.
set -e
OUT="$(realpath -m "${1:-$(dirname "$0")/runs/main}")"
cd "$(dirname "$0")"
[ $# -gt 0 ] && shift
mkdir -p "$OUT"
exec /usr/bin/python3 -m kinema_micro.train --out "$OUT" "$@"
