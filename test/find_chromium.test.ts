// How the browser tests find Chromium (test/helpers.ts): an environment variable, then the usual
// install locations of Linux, macOS and Windows, else a failure with the install hint.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtempSync, rmSync, symlinkSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {chromiumLocations, CHROMIUM_ARGS, CHROMIUM_ENV_VARS, findChromium} from './helpers';

const find = suite('findChromium');

const only = (...paths: string[]) => (path: string) => paths.includes(path);

find('CHROME_PATH (then CHROMIUM_PATH, CHROME_BIN, Puppeteer\'s, Playwright\'s) wins over install locations', () => {
  assert.equal(CHROMIUM_ENV_VARS, ['CHROME_PATH', 'CHROMIUM_PATH', 'CHROME_BIN', 'PUPPETEER_EXECUTABLE_PATH',
    'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH']);
  const exists = only('/opt/chrome/chrome', '/usr/bin/chromium', '/x/chromium');
  assert.is(findChromium({CHROME_PATH: '/opt/chrome/chrome'}, exists, 'linux'), '/opt/chrome/chrome');
  assert.is(findChromium({CHROME_BIN: '/x/chromium', PUPPETEER_EXECUTABLE_PATH: '/nope'}, exists, 'linux'), '/x/chromium');
  assert.is(findChromium({CHROME_PATH: ''}, exists, 'linux'), '/usr/bin/chromium', 'an empty variable is unset');
});

find('a variable naming a missing file is an error naming the variable', () => {
  assert.throws(() => findChromium({CHROMIUM_PATH: '/nowhere/chromium'}, only('/usr/bin/chromium'), 'linux'),
      /CHROMIUM_PATH is set to \/nowhere\/chromium, which does not exist/);
});

find('the usual locations: Debian/Ubuntu/snap/Chrome on Linux, /Applications on macOS, Program Files on Windows', () => {
  for (const [platform, env, path] of [
    ['linux', {}, '/usr/bin/chromium-browser'],
    ['linux', {}, '/snap/bin/chromium'],
    ['linux', {}, '/usr/bin/google-chrome-stable'],
    ['darwin', {}, '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'],
    ['darwin', {HOME: '/Users/me'}, '/Users/me/Applications/Chromium.app/Contents/MacOS/Chromium'],
    ['win32', {PROGRAMFILES: 'C:\\Program Files'}, 'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe'],
  ] as const) {
    assert.ok(chromiumLocations(platform, env).includes(path), `${platform}: ${path}`);
    assert.is(findChromium(env, only(path), platform), path);
  }
  // Debian's Chromium comes first on Linux, as the CI image has it.
  assert.is(chromiumLocations('linux')[0], '/usr/bin/chromium');
});

find('none found: fails (never skips) with the install hint and where it looked', () => {
  assert.throws(() => findChromium({}, () => false, 'linux'),
      /Chromium or Chrome is missing: the browser tests need one\. Set CHROME_PATH to its binary, or install it \(Debian\/Ubuntu: apt-get install -y chromium; macOS: .*Looked in: \/usr\/bin\/chromium, /);
});

find('launches the browser CHROME_PATH names (a link to this machine\'s Chromium, outside any usual location)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chrome-path-'));
  try {
    const link = join(dir, 'my-chrome');
    symlinkSync(findChromium(), link);
    const path = findChromium({...process.env, CHROME_PATH: link});
    assert.is(path, link);
    const {chromium} = await import('playwright-core');
    const browser = await chromium.launch({executablePath: path, args: CHROMIUM_ARGS});
    try {
      assert.match(browser.version(), /^\d+\./);
    } finally {
      await browser.close();
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

find.run();
