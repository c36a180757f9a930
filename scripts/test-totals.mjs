// Prints vitest's JSON report as one line: "N passed, N failed" (", N skipped" when any).
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.error(`no test report at ${file}: the test run did not finish`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(0);
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
// A test file that failed to load counts as a failure, not as nothing.
const failedFiles = (report.testResults ?? []).filter(
  (r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0,
).length;
let failed = (report.numFailedTests ?? 0) + failedFiles;
// An unhandled error fails the run even when every test passed: count it, so the line never
// reads as green for a red run.
if (report.success === false && failed === 0) failed = 1;
process.stdout.write(
  `${report.numPassedTests ?? 0} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
);
