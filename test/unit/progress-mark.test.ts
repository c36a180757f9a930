import { describe, expect, it } from 'vitest';
import type { HealthSignals } from '../../src/jobs/job.js';
import { ProgressMark, type ProgressMarkReading } from '../../src/runtime/progress-mark.js';

const START = new Date('2026-11-27T12:00:00Z');
const at = (s: number) => new Date(START.getTime() + s * 1000);

/** A job's signals whose counts the test sets. */
function signals(): HealthSignals & {
  counts: { settled: number; pending: number; alive: number };
} {
  const counts = { settled: 0, pending: 0, alive: 0 };
  return {
    counts,
    settled: () => counts.settled,
    pending: () => counts.pending,
    alive: () => counts.alive,
  };
}

function reading(over: Partial<ProgressMarkReading> = {}): ProgressMarkReading {
  return { bytesStored: 0, done: 0, skipped: 0, signals: [], ...over };
}

describe('ProgressMark', () => {
  it('moves with bytes stored and objects done or skipped, and stays put otherwise', () => {
    const mark = new ProgressMark(START);
    expect(mark.update(reading(), at(1))).toEqual(at(1));
    expect(mark.update(reading(), at(2))).toEqual(at(1));
    expect(mark.update(reading({ bytesStored: 5 }), at(3))).toEqual(at(3));
    expect(mark.update(reading({ bytesStored: 5, done: 1 }), at(4))).toEqual(at(4));
    expect(mark.update(reading({ bytesStored: 5, done: 1, skipped: 1 }), at(5))).toEqual(at(5));
    expect(mark.update(reading({ bytesStored: 5, done: 1, skipped: 1 }), at(9))).toEqual(at(5));
  });

  it("moves with a job's settled count, pending or not", () => {
    const job = signals();
    const mark = new ProgressMark(START);
    mark.update(reading({ signals: [job] }), at(1));
    job.counts.pending = 3;
    expect(mark.update(reading({ signals: [job] }), at(2))).toEqual(at(2));
    job.counts.settled = 1;
    expect(mark.update(reading({ signals: [job] }), at(3))).toEqual(at(3));
  });

  it('counts polls and scans only while nothing is pending', () => {
    const job = signals();
    const mark = new ProgressMark(START);
    mark.update(reading({ signals: [job] }), at(1));
    job.counts.alive = 1;
    expect(mark.update(reading({ signals: [job] }), at(2))).toEqual(at(2));
    // Work taken on: the moment counts once, the polls after it never.
    job.counts.pending = 1;
    expect(mark.update(reading({ signals: [job] }), at(3))).toEqual(at(3));
    for (let s = 4; s < 10; s++) {
      job.counts.alive++;
      expect(mark.update(reading({ signals: [job] }), at(s))).toEqual(at(3));
    }
    // Nothing waits any more: idle, and each poll shows it alive again.
    job.counts.pending = 0;
    expect(mark.update(reading({ signals: [job] }), at(10))).toEqual(at(10));
    job.counts.alive++;
    expect(mark.update(reading({ signals: [job] }), at(11))).toEqual(at(11));
  });

  it("one signal's pending work holds every signal's polls still", () => {
    const poller = signals();
    const spool = signals();
    const mark = new ProgressMark(START);
    spool.counts.pending = 2;
    mark.update(reading({ signals: [poller, spool] }), at(1));
    poller.counts.alive = 5;
    expect(mark.update(reading({ signals: [poller, spool] }), at(2))).toEqual(at(1));
  });
});
