import { expect, test } from '@playwright/test';

test('the demo page loads, cross-origin isolated', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'kinema' })).toBeVisible();
  await expect(page.getByTestId('status')).toHaveAttribute('data-ready', 'true');
  expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
  expect(errors).toEqual([]);
});
