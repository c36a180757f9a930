import { describe, expect, it } from 'vitest';
import { S3WorkerError } from '../../src/errors.js';
import {
  BODY_TRUNCATED,
  backoffDelay,
  isTransientError,
  retryTransient,
} from '../../src/transfer/transient-retry.js';

describe('transient faults', () => {
  it('tells faults a later attempt gets past from answers that would repeat', () => {
    const transient = [
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      new Error('aborted'),
      { name: 'SlowDown', $metadata: { httpStatusCode: 503 } },
      { name: 'InternalError', $metadata: { httpStatusCode: 500 } },
      new S3WorkerError('cut', { code: BODY_TRUNCATED }),
      new S3WorkerError('wrapped', { code: 'X', cause: { code: 'EPIPE' } }),
    ];
    const permanent = [
      { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } },
      { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } },
      { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } },
      new S3WorkerError('bad bytes', { code: 'CHECKSUM_MISMATCH' }),
      Object.assign(new Error('stop'), { name: 'AbortError' }),
    ];
    expect(transient.map(isTransientError)).toEqual(transient.map(() => true));
    expect(permanent.map(isTransientError)).toEqual(permanent.map(() => false));
  });

  it('backs off exponentially with jitter, capped', () => {
    for (let n = 1; n <= 12; n++) {
      const ceiling = Math.min(8000, 250 * 2 ** (n - 1));
      const d = backoffDelay(n, 250, 8000);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });

  it('retries a transient failure, and gives up past the window or on a permanent one', async () => {
    let calls = 0;
    const flaky = () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
      return Promise.resolve('ok');
    };
    await expect(
      retryTransient(async () => flaky(), { windowMs: 5000, baseDelayMs: 1 }),
    ).resolves.toBe('ok');
    expect(calls).toBe(3);
    let permanentCalls = 0;
    await expect(
      retryTransient(
        async () => {
          permanentCalls++;
          throw { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } };
        },
        { windowMs: 5000, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(permanentCalls).toBe(1);
    let downCalls = 0;
    await expect(
      retryTransient(
        async () => {
          downCalls++;
          throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
        },
        { windowMs: 50, baseDelayMs: 10, maxDelayMs: 20 },
      ),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(downCalls).toBeGreaterThan(1);
    expect(downCalls).toBeLessThan(20);
  });
});
