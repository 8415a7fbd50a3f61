#!/bin/sh
# Export a trained run to public/models/kinema-micro (ONNX fp32/fp16/int8, tokenizer, manifest,
# reference vectors, tokenizer golden file, eval set) and verify ONNX against PyTorch from Node.
# Usage: training/export.sh [run dir, default training/runs/main] [extra export.py flags]
set -e
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUN="$(realpath -m "${1:-$ROOT/training/runs/main}")"
[ $# -gt 0 ] && shift
cd "$ROOT/training"
exec /usr/bin/python3 -m kinema_micro.export --run "$RUN" "$@"
