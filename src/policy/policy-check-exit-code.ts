/**
 * Exit codes of `s3worker policy --check`, its own besides the shared table of src/errors.ts:
 * a usage or config error is still ExitCode.Config (2), a bug ExitCode.Unexpected (1). Chosen
 * above every shared code so a CI step can tell them apart. docs/policy.md lists them.
 */
export const PolicyCheckExitCode = {
  /** Every needed permission is granted, and nothing more. */
  Fits: 0,
  /** Every needed permission is granted, and more than the job needs. */
  Broader: 20,
  /** Nothing is missing for sure, but some permission depends on conditions the check cannot evaluate. */
  CannotTell: 21,
  /** At least one needed permission is not granted. */
  Missing: 22,
} as const;

export type PolicyCheckExitCodeValue =
  (typeof PolicyCheckExitCode)[keyof typeof PolicyCheckExitCode];

/** The exit code of a verdict. */
export function policyCheckExitCode(
  verdict: 'fits' | 'broader' | 'cannot-tell' | 'missing',
): PolicyCheckExitCodeValue {
  switch (verdict) {
    case 'fits':
      return PolicyCheckExitCode.Fits;
    case 'broader':
      return PolicyCheckExitCode.Broader;
    case 'cannot-tell':
      return PolicyCheckExitCode.CannotTell;
    case 'missing':
      return PolicyCheckExitCode.Missing;
  }
}
