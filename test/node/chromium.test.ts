import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium } from '../../src/node/chromium';

const dir = mkdtempSync(join(tmpdir(), 'kinema-chromium-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('findChromium', () => {
  it('rejects a CHROME_PATH that is not executable, saying how to fix it', () => {
    expect(() => findChromium({ CHROME_PATH: '/nonexistent/chrome' })).toThrow(/CHROME_PATH.*apt-get install -y chromium/s);
  });

  it('says how to install a browser when none is found', () => {
    // Candidates that exist nowhere, so this branch runs on every machine, with or without a browser.
    const candidates = [join(dir, 'no-such-chromium'), 'kinema-no-such-browser'];
    expect(() => findChromium({ PATH: dir }, candidates)).toThrow(/No Chromium or Chrome browser was found.*kinema-no-such-browser.*apt-get install/s);
  });

  it('finds a browser on the PATH, and prefers CHROME_PATH', () => {
    const fake = join(dir, 'kinema-fake-browser');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    expect(findChromium({ PATH: `/nonexistent:${dir}` }, ['kinema-missing', 'kinema-fake-browser'])).toBe(fake);
    expect(findChromium({ PATH: '', CHROME_PATH: fake }, ['kinema-missing'])).toBe(fake);
  });
});
