// Screenshots an HTML page (a demo or bench report) in headless Chromium, for the images in docs/:
//   node --import tsx scripts/screenshot.ts <page.html> <out.png>
import {resolve} from 'node:path';
import {launchChromium} from '../test/helpers';

const [,, file, out] = process.argv;
if (!file || !out) {
  console.error('usage: node --import tsx scripts/screenshot.ts <page.html> <out.png>');
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({viewport: {width: 1000, height: 800}});
  await page.goto(`file://${resolve(file)}`);
  await page.waitForFunction(() => Number(document.body.dataset.chartsRendered) > 0);
  await page.screenshot({path: out, fullPage: true});
} finally {
  await browser.close();
}
