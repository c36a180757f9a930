import { describe, expect, it } from 'vitest';
import { matchesEventPattern } from '../support/event-pattern.js';

// The cases of EventBridge's user guide (event patterns, arrays, content filtering) and of
// event-ruler's README (JSON array matching), in the subset the matcher supports.
const ec2 = {
  source: 'aws.ec2',
  'detail-type': 'EC2 Instance State-change Notification',
  resources: [
    'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate',
    'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
  ],
  detail: { state: 'terminated', 'c-count': 5, enabled: false, note: null },
};

describe('matchesEventPattern', () => {
  it('matches exact values, any of a list, in nested objects; every field must match', () => {
    expect(matchesEventPattern({ source: ['aws.ec2'] }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: ['aws.fargate', 'aws.ec2'] }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { state: ['terminated'] } }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { state: ['running'] } }, ec2)).toBe(false);
    expect(matchesEventPattern({ source: ['aws.ec2'], detail: { state: ['running'] } }, ec2)).toBe(
      false,
    );
    expect(matchesEventPattern({ detail: { enabled: [false], note: [null] } }, ec2)).toBe(true);
  });

  it('compares numbers as numbers and strings as strings', () => {
    expect(matchesEventPattern({ detail: { 'c-count': [5] } }, ec2)).toBe(true);
    expect(matchesEventPattern({ detail: { 'c-count': ['5'] } }, ec2)).toBe(false);
  });

  it('never matches a field the event does not have, whatever the operator', () => {
    expect(matchesEventPattern({ detail: { missing: ['x'] } }, ec2)).toBe(false);
    expect(matchesEventPattern({ detail: { missing: [{ 'anything-but': 'x' }] } }, ec2)).toBe(
      false,
    );
    expect(matchesEventPattern({ detail: { missing: [{ prefix: '' }] } }, ec2)).toBe(false);
    // An object in the event where the pattern names a leaf has no value at that path.
    expect(matchesEventPattern({ detail: ['terminated'] }, ec2)).toBe(false);
  });

  it('matches an array in the event when the pattern and the array have a value in common', () => {
    const resources = [
      'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
    ];
    expect(matchesEventPattern({ resources }, ec2)).toBe(true);
    expect(matchesEventPattern({ resources: [resources[1]] }, ec2)).toBe(false);
  });

  it('prefix matches strings only', () => {
    expect(matchesEventPattern({ resources: [{ prefix: 'arn:aws:ec2:' }] }, ec2)).toBe(true);
    expect(matchesEventPattern({ source: [{ prefix: 'aws.s3' }] }, ec2)).toBe(false);
    expect(matchesEventPattern({ detail: { 'c-count': [{ prefix: '5' }] } }, ec2)).toBe(false);
  });

  it('anything-but excludes one value or a list, of strings or of numbers', () => {
    expect(matchesEventPattern({ detail: { state: [{ 'anything-but': 'running' }] } }, ec2)).toBe(
      true,
    );
    expect(
      matchesEventPattern(
        { detail: { state: [{ 'anything-but': ['running', 'terminated'] }] } },
        ec2,
      ),
    ).toBe(false);
    expect(matchesEventPattern({ detail: { 'c-count': [{ 'anything-but': [0, 4] }] } }, ec2)).toBe(
      true,
    );
    expect(matchesEventPattern({ detail: { 'c-count': [{ 'anything-but': [4, 5] }] } }, ec2)).toBe(
      false,
    );
  });

  it('lets fields of different elements of an array of objects match one pattern together', () => {
    const employees = {
      employees: [
        { firstName: 'John', lastName: 'Doe' },
        { firstName: 'Anna', lastName: 'Smith' },
        { firstName: 'Peter', lastName: 'Jones' },
      ],
    };
    expect(matchesEventPattern({ employees: { firstName: ['Anna'] } }, employees)).toBe(true);
    // No employee is Anna Jones, yet the pattern matches: the limitation a rule must design around.
    expect(
      matchesEventPattern({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, employees),
    ).toBe(true);
    expect(
      matchesEventPattern({ employees: { firstName: ['Anna'], lastName: ['Brown'] } }, employees),
    ).toBe(false);
    // anything-but over an array: some element that is not excluded is enough.
    const codes = { containers: [{ exitCode: 0 }, { exitCode: 1 }] };
    expect(matchesEventPattern({ containers: { exitCode: [{ 'anything-but': 0 }] } }, codes)).toBe(
      true,
    );
  });

  it('refuses syntax outside its subset instead of guessing', () => {
    expect(() =>
      matchesEventPattern({ detail: { 'c-count': [{ numeric: ['>', 0] }] } }, ec2),
    ).toThrow(/not supported/);
    expect(() => matchesEventPattern({ $or: [{ source: ['a'] }, { source: ['b'] }] }, ec2)).toThrow(
      /not supported/,
    );
    expect(() => matchesEventPattern({ source: 'aws.ec2' }, ec2)).toThrow(/list of values/);
    expect(() => matchesEventPattern({ source: [] }, ec2)).toThrow(/empty list/);
    expect(() => matchesEventPattern({ source: [{ 'anything-but': ['a', 1] }] }, ec2)).toThrow(
      /only strings or only numbers/,
    );
    expect(() => matchesEventPattern({ source: [{ prefix: 'a', suffix: 'b' }] }, ec2)).toThrow(
      /one operator/,
    );
  });
});
