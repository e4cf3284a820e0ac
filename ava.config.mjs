// ava's configuration (a file, not package.json, because the order of the test files is a function).
//
// Two test files run at a time (one per core). The few that take longest (a serial sweep, several server processes,
// a browser; timed file by file at d959b7b) start first; started last, one of them would run alone at the end while
// the other core idles.
const LONGEST_FIRST = [
  'test/e2e/apiProperties.e2e.test.ts',
  'test/e2e/audit.e2e.test.ts',
  'test/e2e/acrossInstances.e2e.test.ts',
  'test/browser/demo.browser.test.ts',
  'test/browser/benchReport.browser.test.ts',
  'test/browser/scheduledAndGroups.browser.test.ts',
  'test/e2e/cluster.e2e.test.ts',
];
const rank = (file) => {
  const index = LONGEST_FIRST.findIndex((name) => file.endsWith(name));
  return index === -1 ? LONGEST_FIRST.length : index;
};

export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  files: ['test/**/*.test.ts'],
  timeout: '60s',
  sortTestFiles: (a, b) => rank(a) - rank(b) || a.localeCompare(b, [], { numeric: true }),
};
