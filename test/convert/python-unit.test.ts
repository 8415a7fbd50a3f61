// Runs the Python converter's own unit tests (convert/tests, python unittest) so CI fails when they fail.
// They need Debian's torch/onnx/numpy for /usr/bin/python3; without torch the test is skipped, loudly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const PYTHON = process.env.KINEMA_PYTHON ?? '/usr/bin/python3';

function pythonHasTorch(): boolean {
  if (!existsSync(PYTHON)) return false;
  const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  return probe.status === 0;
}

const ready = pythonHasTorch();
if (!ready) {
  console.warn(
    `\n*** SKIPPED: convert/tests (python unittest) — ${PYTHON} cannot import torch, onnx and numpy. ` +
      'Install python3-torch python3-onnx python3-numpy (Debian) to run the converter tests. ***\n',
  );
}

describe('Python converter unit tests', () => {
  it.skipIf(!ready)('python3 -m unittest discover -s convert/tests passes', () => {
    const run = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'convert/tests'], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1' },
      maxBuffer: 64 * 1024 * 1024,
    });
    // unittest reports on stderr: keep its tail in the failure message
    const report = `${run.stdout}\n${run.stderr}`.split('\n').slice(-60).join('\n');
    expect(run.error, String(run.error)).toBeUndefined();
    expect(run.status, report).toBe(0);
    expect(run.stderr).toMatch(/^OK/m);
  }, 900_000);
});
