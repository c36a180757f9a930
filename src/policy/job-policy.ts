import type { JobClass } from '../jobs/job.js';
import type { Permission } from '../jobs/permissions.js';
import { type BuildPolicyOptions, buildPolicy } from './build-policy.js';
import type { PolicyDocument } from './policy-document.js';

/** A job's least-privilege policy and the permissions it came from (each with its reason). */
export interface JobPolicy {
  policy: PolicyDocument;
  permissions: Permission[];
}

/**
 * The IAM policy a job needs with this config: the job is constructed (no I/O) and asked for its
 * `permissions()`, which `buildPolicy` turns into statements.
 */
export function jobPolicy<C>(
  jobClass: JobClass<C>,
  jobConfig: C,
  options: BuildPolicyOptions = {},
): JobPolicy {
  const permissions = new jobClass(jobConfig).permissions();
  return { policy: buildPolicy(permissions, options), permissions };
}
