// The stage page (html/stage.html) as the e2e tests drive it: polling its stats.

import { sleep } from '../integration/harness.mjs';

/** Polls window.stagePage.stats() until fn(stats) holds; throws with the page's log after ms. */
export async function pollStage(page, fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await page.evaluate(() => window.stagePage.stats());
    if (fn(last)) return last;
    if (Date.now() > deadline) {
      const log = await page.evaluate(() => window.stagePage.events.join('\n  '));
      throw new Error(`${what}: ${JSON.stringify(last)}\n  ${log}`);
    }
    await sleep(500);
  }
}
