import type { ExitCodeValue } from '../errors.js';

export type Verdict = 'pass' | 'fail' | 'skip';

/** One line of the doctor's table. */
export interface DoctorCheck {
  /** What was tried, in words: `list input`, `write a probe object`... */
  name: string;
  /** The IAM permission the probe exercises, e.g. `s3:ListBucket`. */
  permission: string;
  /** `s3://bucket/key` (or prefix) it was tried on. */
  target: string;
  verdict: Verdict;
  /** What happened, one line. */
  detail: string;
  /** The error code on failure (`ACCESS_DENIED`...). */
  code?: string;
  /** What to do about a failure: for a denial, the policy statement that allows it. */
  fix?: string;
  exitCode?: ExitCodeValue;
}

export interface DoctorReport {
  /** True when every check passed (skips that follow a failure do not count as passes). */
  ok: boolean;
  /** 0 when ok; else the exit code of the first failure. */
  exitCode: ExitCodeValue;
  credentials?: { source: string; expiration?: string };
  region?: string;
  endpoint?: string;
  /** Who the credentials are, when the service can tell (STS GetCallerIdentity). */
  identity: { arn?: string; account?: string; userId?: string } | { unavailable: string };
  checks: DoctorCheck[];
  /** Probe objects or uploads that could not be removed (their removal was denied). */
  leftovers: string[];
}
