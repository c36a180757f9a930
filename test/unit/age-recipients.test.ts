import { generateHybridIdentity, generateIdentity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import {
  recipientProblems,
  recipientSyntaxProblems,
} from '../../src/jobs/db-backup/age-encryption.js';

describe('age recipients', () => {
  it('accepts X25519 and post-quantum recipients, at config time and at run start', async () => {
    const x25519 = await identityToRecipient(await generateIdentity());
    const pq = await identityToRecipient(await generateHybridIdentity());
    expect(recipientSyntaxProblems([x25519, pq])).toEqual([]);
    expect(await recipientProblems([x25519, pq])).toEqual([]);
  });

  it('refuses, without the age library, what is not an age1 bech32 string with a valid checksum', async () => {
    const identity = await generateIdentity();
    const recipient = await identityToRecipient(identity);
    const bad = [
      `${recipient.slice(0, -1)}${recipient.endsWith('q') ? 'p' : 'q'}`, // one character changed
      identity, // the secret key pasted where the public key belongs
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ',
      'age1',
      '--help',
    ];
    const problems = recipientSyntaxProblems(bad);
    expect(problems).toHaveLength(bad.length);
    for (const p of problems) expect(p).toMatch(/^not an age recipient: /);
    // Never the whole value: a pasted secret key shows its first 24 characters at most.
    expect(problems[1]).not.toContain(identity.slice(24));
    expect(await recipientProblems(bad)).toEqual(problems);
  });
});
