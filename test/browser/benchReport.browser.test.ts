import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { BenchResult } from '../../scripts/bench/report.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';

const serial = chromiumAvailable ? test.serial : test.skip;

function bench(args: string[]) {
  const { BENCH_DATABASE_URL: _unset, ...env } = process.env;
  return promisify(execFile)(process.execPath, ['--import=tsx', 'scripts/bench.ts', ...args], { env, timeout: 120_000 });
}

/** Each canvas on the page with how many of its pixels were painted. */
const paintedPixels = () =>
  [...document.querySelectorAll('canvas')].map((canvas) => {
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
    return { id: canvas.id, painted, size: canvas.width * canvas.height };
  });

serial(
  'npm run bench writes a self-contained HTML report whose charts render in Chromium; --compare prints the differences from an earlier run and charts them',
  async (t) => {
    t.timeout(180_000);
    const out = mkdtempSync(join(tmpdir(), 'letsapp-bench-report-'));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    // The smallest real run: every phase but fan-out, a few seconds each.
    const run = await bench(
      ['--users', '10', '--sockets', '20', '--seconds', '2', '--rate', '200', '--rest-concurrency', '2', '--fanout-size', '0'].concat([
        '--out',
        out,
      ]),
    );
    const reportFile = /report: (\S+\.html)/.exec(run.stdout)?.[1];
    t.truthy(reportFile, run.stdout);
    const resultFile = readdirSync(out).find((name) => /^bench-.*\.json$/.test(name))!;
    t.is(reportFile, join(out, resultFile.replace(/\.json$/, '.html')), 'the report sits beside the JSON results');
    const html = readFileSync(reportFile!, 'utf8');
    t.deepEqual(readFileSync(join(out, 'latest.html'), 'utf8'), html, 'latest.html is the newest report');
    t.notRegex(html, /<script[^>]+src=|<link[^>]+href=/, 'nothing is loaded from elsewhere');

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const page = await (await browser.newContext({ offline: true })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(reportFile!).href);
    await page.waitForFunction(() => (window as { benchChartsDrawn?: number }).benchChartsDrawn !== undefined);
    t.deepEqual(errors, []);
    t.is(
      await page.evaluate(() => (window as { benchChartsDrawn?: number }).benchChartsDrawn),
      9,
      'three charts for each of the three phases',
    );
    const canvases = await page.evaluate(paintedPixels);
    t.is(canvases.length, 9);
    for (const canvas of canvases) t.true(canvas.painted > canvas.size / 100, `${canvas.id} is drawn (${canvas.painted} pixels painted)`);
    t.regex(
      await page
        .locator('h2')
        .allInnerTexts()
        .then((titles) => titles.join('|')),
      /socket throughput.*socket at 200 msg\/s.*REST throughput/,
    );
    t.regex(await page.locator('body').innerText(), /bare uWebSockets\.js relay: acked\/s/, 'the limits measured in the same run');

    // An "earlier" run: the same one with half the closed-loop throughput.
    const earlier = JSON.parse(readFileSync(join(out, resultFile), 'utf8')) as BenchResult;
    const later = JSON.parse(readFileSync(join(out, resultFile), 'utf8')) as BenchResult;
    earlier.commit = 'earlier';
    earlier.socketThroughput.ackedPerSecond = Math.round(later.socketThroughput.ackedPerSecond / 2);
    const earlierFile = join(out, 'earlier.json');
    writeFileSync(earlierFile, JSON.stringify(earlier));
    const compared = await bench(['--compare', earlierFile, '--with', join(out, resultFile), '--out', out]);
    const line = compared.stdout.split('\n').find((text) => text.startsWith('socket: acked messages/s (closed loop)'));
    const [before, after, ratio, verdict] = (line ?? '').split(/\s+/).slice(-4);
    t.deepEqual(
      [Number(before), Number(after)],
      [earlier.socketThroughput.ackedPerSecond, later.socketThroughput.ackedPerSecond],
      compared.stdout,
    );
    t.true(Math.abs(Number(ratio) - 2) < 0.1, `after / before is about 2: ${ratio}`);
    t.is(verdict, 'better');
    const comparisonFile = /report: (\S+\.html)/.exec(compared.stdout)![1]!;
    await page.goto(pathToFileURL(comparisonFile).href);
    await page.waitForFunction(() => (window as { benchChartsDrawn?: number }).benchChartsDrawn !== undefined);
    t.is(await page.evaluate(() => (window as { benchChartsDrawn?: number }).benchChartsDrawn), 10, 'the nine, and the comparison');
    const comparison = (await page.evaluate(paintedPixels)).find((canvas) => canvas.id === 'compare')!;
    t.true(comparison.painted > comparison.size / 100, 'the comparison chart is drawn');
    t.regex(await page.locator('body').innerText(), /Compared with earlier/);
    t.deepEqual(errors, []);
  },
);
