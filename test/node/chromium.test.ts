import { describe, expect, it } from 'vitest';
import { findChromium } from '../../src/node/chromium';

describe('findChromium', () => {
  it('rejects a CHROME_PATH that is not executable, saying how to fix it', () => {
    expect(() => findChromium({ CHROME_PATH: '/nonexistent/chrome' })).toThrow(/CHROME_PATH.*apt-get install -y chromium/s);
  });

  it('says how to install a browser when none is on the PATH', () => {
    // An empty PATH still finds an absolute /usr/bin/chromium when the machine has it.
    let result: string | Error;
    try {
      result = findChromium({ PATH: '' });
    } catch (error) {
      result = error as Error;
    }
    if (typeof result === 'string') expect(result).toBe('/usr/bin/chromium');
    else expect(result.message).toMatch(/No Chromium or Chrome browser was found.*apt-get install/s);
  });
});
