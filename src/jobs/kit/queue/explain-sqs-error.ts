import { ExitCode, type ExitCodeValue, S3WorkerError } from '../../../errors.js';
import { networkCode, type SdkErrorLike, sanitizeSdkError } from '../../../s3/sdk-error.js';
import type { QueueAddress } from './queue-url.js';

const CREDENTIAL_CODES = new Set([
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidSecurity',
  'MissingAuthenticationToken',
]);

/** SQS-side KMS failures: the queue's key refuses this role, or is disabled. */
const KMS_CODES = new Set([
  'KmsAccessDenied',
  'KmsDisabled',
  'KmsInvalidKeyUsage',
  'KmsInvalidState',
  'KmsNotFound',
  'KmsOptInRequired',
  'KMS.AccessDeniedException',
  'KMS.DisabledException',
]);

/**
 * Turns what an SQS call threw into an S3WorkerError that says which call failed on which queue
 * and what to do, with an exit code from `ExitCode` (a missing queue shares NoSuchBucket's: a
 * resource named in the config does not exist). An S3WorkerError passes through unchanged.
 *
 * @param action the IAM action of the call (`sqs:ReceiveMessage`).
 */
export function explainSqsError(err: unknown, action: string, queue: QueueAddress): S3WorkerError {
  if (err instanceof S3WorkerError) return err;
  const e = (err ?? {}) as SdkErrorLike;
  const code = sqsErrorCode(err);
  const status = e.$metadata?.httpStatusCode;
  const make = (message: string, errorCode: string, exitCode: ExitCodeValue, hint: string) =>
    new S3WorkerError(message, {
      code: errorCode,
      exitCode,
      cause: sanitizeSdkError(err, { firstLineOnly: true }),
      context: {
        action,
        queue: queue.url,
        ...(status ? { status } : {}),
        ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}),
      },
      hint,
    });
  if (code === 'CredentialsProviderError' || code === 'ProviderError') {
    return make(
      `no AWS credentials for ${action} on queue ${queue.name}`,
      'NO_CREDENTIALS',
      ExitCode.NoCredentials,
      'on ECS give the task definition a taskRoleArn; locally pass AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --credentials profile --profile <name>',
    );
  }
  if (code === 'QueueDoesNotExist' || code === 'AWS.SimpleQueueService.NonExistentQueue') {
    return make(
      `queue ${queue.url} does not exist (${action})`,
      'QUEUE_NOT_FOUND',
      ExitCode.NoSuchBucket,
      'check the --queue URL (account, region, name); `aws sqs get-queue-url --queue-name <name>` prints it',
    );
  }
  if (KMS_CODES.has(code)) {
    return make(
      `the queue's KMS key refused ${action} on queue ${queue.name} (${code})`,
      'ACCESS_DENIED',
      ExitCode.AccessDenied,
      "allow kms:Decrypt on the queue's key to the task role (--queue-kms-key adds it to `s3worker policy`), and check the key is enabled",
    );
  }
  if (CREDENTIAL_CODES.has(code)) {
    return make(
      `SQS rejected the credentials (${code}) for ${action} on queue ${queue.name}`,
      'CREDENTIALS_REJECTED',
      ExitCode.CredentialsRejected,
      'the access key, secret or session token is wrong or expired, or meant for another endpoint; check the task role or AWS_* variables',
    );
  }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || status === 403) {
    const statement = { Effect: 'Allow', Action: action, Resource: queue.arn };
    return make(
      `access denied: ${action} on queue ${queue.name}`,
      'ACCESS_DENIED',
      ExitCode.AccessDenied,
      `the credentials are valid but their policy does not allow this; add to the task role's policy:\n${JSON.stringify(statement, null, 2)}\n(\`s3worker policy <job> --queue <url>\` prints the whole least-privilege policy)`,
    );
  }
  const net = networkCode(err);
  if (net) {
    return make(
      `cannot reach the SQS endpoint ${queue.origin} (${net}) for ${action}`,
      'ENDPOINT_UNREACHABLE',
      ExitCode.EndpointUnreachable,
      "check the queue URL's host, DNS, and that the task's network (security group, NAT or an SQS VPC endpoint) reaches SQS",
    );
  }
  return make(
    `${action} on queue ${queue.name} failed: ${code}${status ? ` (HTTP ${status})` : ''}: ${(e.message ?? '').split('\n')[0]}`,
    'SQS_ERROR',
    ExitCode.Unexpected,
    'see the cause; if it persists, report it with the request id',
  );
}

/**
 * The error code of an SQS answer: its `Code` or name without the namespace some servers send in
 * the JSON protocol's `__type` (`com.amazonaws.sqs#QueueDoesNotExist`).
 */
export function sqsErrorCode(err: unknown): string {
  const e = (err ?? {}) as SdkErrorLike;
  return (e.Code ?? e.name ?? 'Error').replace(/^.*#/, '');
}
