/**
 * An EventBridge event pattern matcher for the subset of the syntax deploy/'s rules use: nested
 * objects, exact values (string, number, boolean, null), `prefix` and `anything-but` (one value
 * or a list). Any other operator (and `$or`) throws, so a pattern that grows past this subset
 * fails its test instead of being judged by rules this matcher does not know.
 *
 * Arrays in the event are matched as EventBridge documents it: a pattern value matches when it
 * matches any element. Arrays of objects are "crushed out": each field of the pattern is matched
 * against the values of that field in every element, each on its own, so fields of *different*
 * elements can satisfy one pattern together (event-ruler's `rulesForEvent`; its newer
 * `rulesForJSONEvent` refuses such matches, and AWS does not say which one EventBridge runs).
 * This matcher takes the looser reading, the one a pattern must be safe under.
 */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  const values = eventValues(event);
  return patternLeaves(pattern).every(({ path, conditions }) => {
    const found = values.get(path) ?? [];
    return conditions.some((c) => found.some((v) => matchesCondition(c, v, path)));
  });
}

type Scalar = string | number | boolean | null;

/** Every field path of the pattern (`detail.containers.name`) with its list of conditions. */
function patternLeaves(
  pattern: unknown,
  prefix = '',
): Array<{ path: string; conditions: unknown[] }> {
  if (!isObject(pattern)) throw new Error(`event pattern at "${prefix}" is not an object`);
  const leaves: Array<{ path: string; conditions: unknown[] }> = [];
  for (const [key, value] of Object.entries(pattern)) {
    if (key.startsWith('$')) throw new Error(`"${key}" is not supported by this matcher`);
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (Array.isArray(value)) {
      if (value.length === 0) throw new Error(`"${path}" has an empty list of values`);
      leaves.push({ path, conditions: value });
    } else if (isObject(value)) {
      leaves.push(...patternLeaves(value, path));
    } else {
      // EventBridge rejects `"slug": "x"`: a value to match is always in a list.
      throw new Error(`"${path}" must be an object or a list of values`);
    }
  }
  return leaves;
}

/** The event's leaf values by field path; array elements (and their fields) join their parent's path. */
function eventValues(event: unknown): Map<string, Scalar[]> {
  const values = new Map<string, Scalar[]>();
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      for (const element of node) walk(element, path);
    } else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        walk(value, path === '' ? key : `${path}.${key}`);
      }
    } else {
      const list = values.get(path) ?? [];
      list.push(node as Scalar);
      values.set(path, list);
    }
  };
  walk(event, '');
  return values;
}

function matchesCondition(condition: unknown, value: Scalar, path: string): boolean {
  if (!isObject(condition)) return condition === value;
  const [operator, ...more] = Object.keys(condition);
  if (more.length > 0) throw new Error(`"${path}": one operator per condition`);
  const operand = condition[operator!];
  switch (operator) {
    case 'prefix':
      if (typeof operand !== 'string') throw new Error(`"${path}": prefix takes a string`);
      return typeof value === 'string' && value.startsWith(operand);
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand];
      if (excluded.some((e) => isObject(e) || Array.isArray(e))) {
        throw new Error(`"${path}": this matcher's anything-but takes values only`);
      }
      const kinds = new Set(excluded.map((e) => typeof e));
      if (kinds.size !== 1 || !(kinds.has('string') || kinds.has('number'))) {
        throw new Error(`"${path}": anything-but takes only strings or only numbers`);
      }
      return !excluded.includes(value);
    }
    default:
      throw new Error(`"${path}": operator "${operator}" is not supported by this matcher`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
