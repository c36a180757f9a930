import { describe, expect, it } from 'vitest';
import type { CredentialIdentity } from '../../src/credentials/credential-types.js';
import { keepValidCredentials } from '../../src/credentials/keep-valid-credentials.js';

/** A provider that hands out key `k<n>` expiring `lifetime` ms after the fake clock, or fails while `down`. */
function endpoint(clock: { t: number }, lifetime: number) {
  const state = { calls: 0, down: false };
  const provider = async (): Promise<CredentialIdentity> => {
    state.calls++;
    if (state.down) throw new Error('connect ECONNREFUSED');
    return {
      accessKeyId: `k${state.calls}`,
      secretAccessKey: 's',
      expiration: new Date(clock.t + lifetime),
    };
  };
  return { state, provider };
}

describe('a credential refresh that fails while the cached credentials are valid', () => {
  it('keeps using them, retries with backoff, and picks up new ones when the endpoint is back', async () => {
    const clock = { t: 1_000_000 };
    const { state, provider } = endpoint(clock, 60_000);
    const credentials = keepValidCredentials(provider, { now: () => clock.t, waitMs: 50 });
    expect((await credentials()).accessKeyId).toBe('k1');

    state.down = true;
    clock.t += 10_000;
    expect((await credentials()).accessKeyId).toBe('k1');
    expect(state.calls).toBe(2);
    // Within the backoff: no new attempt, the cached credentials at once.
    expect((await credentials()).accessKeyId).toBe('k1');
    expect(state.calls).toBe(2);
    clock.t += 1_000;
    expect((await credentials()).accessKeyId).toBe('k1');
    expect(state.calls).toBe(3);

    state.down = false;
    clock.t += 5_000;
    expect((await credentials()).accessKeyId).toBe('k4');
  });

  it('fails once the cached credentials are about to expire, and on a forced refresh', async () => {
    const clock = { t: 0 };
    const { state, provider } = endpoint(clock, 60_000);
    const credentials = keepValidCredentials(provider, { now: () => clock.t, marginMs: 15_000 });
    await credentials();
    state.down = true;
    await expect(credentials({ forceRefresh: true })).rejects.toThrow('ECONNREFUSED');
    clock.t += 50_000;
    await expect(credentials()).rejects.toThrow('ECONNREFUSED');
  });

  it('fails when there is nothing cached', async () => {
    const { state, provider } = endpoint({ t: 0 }, 60_000);
    state.down = true;
    await expect(keepValidCredentials(provider)()).rejects.toThrow('ECONNREFUSED');
  });
});
