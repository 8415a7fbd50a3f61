// playwright-core is an optional peer dependency: the generate command, its only user, says how to get it.
import { describe, expect, it } from 'vitest';
import { loadPlaywright } from '../../src/node/cli';

describe('the generate command without playwright-core', () => {
  it('tells the user to install it when the module is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'playwright-core'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadPlaywright(() => Promise.reject(missing))).rejects.toThrow('install it with `npm install playwright-core`');
  });

  it('passes any other failure through unchanged', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(loadPlaywright(() => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('loads it when installed', async () => {
    const playwright = await loadPlaywright();
    expect(typeof playwright.chromium.launch).toBe('function');
  });
});
