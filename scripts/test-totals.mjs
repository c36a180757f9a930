// Prints vitest's JSON reports as one line: "N passed, N failed" (", N skipped" when any),
// summed over every report named (default test-results/vitest.json).
import { readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['test-results/vitest.json'];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    console.error(`no test report at ${file}: the test run did not finish`);
    failed += 1;
    continue;
  }
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A test file that failed to load counts as a failure, not as nothing.
  const failedFiles = (report.testResults ?? []).filter(
    (r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0,
  ).length;
  let failedHere = (report.numFailedTests ?? 0) + failedFiles;
  // An unhandled error fails the run even when every test passed: count it, so the line never
  // reads as green for a red run.
  if (report.success === false && failedHere === 0) failedHere = 1;
  failed += failedHere;
  passed += report.numPassedTests ?? 0;
}
process.stdout.write(
  `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
);
