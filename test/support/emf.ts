import { Ajv } from 'ajv';

/** The units the EMF specification allows (CloudWatch's StandardUnit). */
const UNITS = [
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
];

/**
 * The Embedded Metric Format document structure of AWS's specification ("Specification:
 * Embedded metric format", CloudWatch user guide), as a JSON schema: the root needs `_aws`
 * with an integer `Timestamp` (ms) and `CloudWatchMetrics`, an array of directives, each with a
 * non-empty `Namespace`, 1+ dimension sets of 1 to 30 names, and 1 to 100 metric definitions
 * with a `Name` of 1 to 255 characters, an optional `Unit` of the standard units and an optional
 * `StorageResolution` of 1 or 60.
 */
export const EMF_SCHEMA = {
  type: 'object',
  required: ['_aws'],
  properties: {
    _aws: {
      type: 'object',
      required: ['Timestamp', 'CloudWatchMetrics'],
      properties: {
        Timestamp: { type: 'integer', minimum: 0 },
        CloudWatchMetrics: {
          type: 'array',
          items: {
            type: 'object',
            required: ['Namespace', 'Dimensions', 'Metrics'],
            additionalProperties: false,
            properties: {
              Namespace: { type: 'string', minLength: 1, maxLength: 255 },
              Dimensions: {
                type: 'array',
                minItems: 1,
                items: {
                  type: 'array',
                  minItems: 1,
                  maxItems: 30,
                  items: { type: 'string', minLength: 1, maxLength: 255 },
                },
              },
              Metrics: {
                type: 'array',
                minItems: 1,
                maxItems: 100,
                items: {
                  type: 'object',
                  required: ['Name'],
                  additionalProperties: false,
                  properties: {
                    Name: { type: 'string', minLength: 1, maxLength: 255 },
                    Unit: { enum: UNITS },
                    StorageResolution: { enum: [1, 60] },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true }).compile(EMF_SCHEMA);

interface Directive {
  Namespace: string;
  Dimensions: string[][];
  Metrics: Array<{ Name: string; Unit?: string }>;
}

/**
 * Every way `line` breaks the EMF specification: the schema above, and the rules a schema
 * cannot say — each dimension a set names is a string member of the root (1 to 1024 chars),
 * each metric a number member of the root, no metric named twice in a directive.
 * @returns an empty array for a valid line.
 */
export function emfProblems(line: Record<string, unknown>): string[] {
  if (!validate(line)) {
    return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  }
  const problems: string[] = [];
  const aws = line._aws as { CloudWatchMetrics: Directive[] };
  for (const directive of aws.CloudWatchMetrics) {
    for (const name of directive.Dimensions.flat()) {
      const value = line[name];
      if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
        problems.push(`dimension ${name} is not a string member of 1 to 1024 characters`);
      }
    }
    const seen = new Set<string>();
    for (const { Name } of directive.Metrics) {
      if (seen.has(Name)) problems.push(`metric ${Name} is defined twice`);
      seen.add(Name);
      if (typeof line[Name] !== 'number' || !Number.isFinite(line[Name])) {
        problems.push(`metric ${Name} is not a number member`);
      }
    }
  }
  return problems;
}

/** The lines that carry metrics (`_aws`), in order. */
export function metricLines(logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter((l) => l._aws !== undefined);
}

/** The sum of a metric over a run's metric lines (a count's total). */
export function metricSum(logs: Array<Record<string, unknown>>, name: string): number {
  return metricLines(logs).reduce((sum, l) => sum + (typeof l[name] === 'number' ? l[name] : 0), 0);
}
