#!/bin/sh
# Train kinema-micro from scratch, reproducibly from fixed seeds (about 1.5 h on 2 shared cores).
#   phase 1 (seed 0): autoencoder (1,000 steps), then text encoder + DiT (2,600 steps, lr 1.5e-3)
#   phase 2 (seed 1): 12,000 fresh clips, DiT + text encoder continued for 1,400 steps at lr 6e-4
# Usage: training/train.sh [output dir, default training/runs/main] [extra phase-1 train.py flags]
# Result: <output dir>/model.pt (phase 1 in <output dir>/phase1/); logs in train.log of each.
# PHASE1_ONLY=1 stops after phase 1 (export that with training/export.sh <output dir>/phase1).
set -e
OUT="$(realpath -m "${1:-$(dirname "$0")/runs/main}")"
cd "$(dirname "$0")"
[ $# -gt 0 ] && shift
mkdir -p "$OUT/phase1"
/usr/bin/python3 -m kinema_micro.train --out "$OUT/phase1" "$@"
if [ -n "$PHASE1_ONLY" ]; then exit 0; fi
exec /usr/bin/python3 -m kinema_micro.train --out "$OUT" --ae "$OUT/phase1/model.pt" \
  --resume "$OUT/phase1/model.pt" --seed 1 --steps 1400 --lr 6e-4 --warmup 50 --ckpt-every 350
