#!/bin/sh
# Train kinema-micro from scratch (seed 0): autoencoder, then text encoder + DiT.
# Usage: training/train.sh [output dir, default training/runs/main] [extra train.py flags]
set -e
OUT="$(realpath -m "${1:-$(dirname "$0")/runs/main}")"
cd "$(dirname "$0")"
[ $# -gt 0 ] && shift
mkdir -p "$OUT"
exec /usr/bin/python3 -m kinema_micro.train --out "$OUT" "$@"
