import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** The floors of src/, bottom up: a file may import its own floor and the ones below. */
const FLOORS: Record<string, number> = {
  'errors.ts': 0,
  'until-aborted.ts': 0,
  config: 1,
  credentials: 2,
  s3: 3,
  transfer: 4,
  jobs: 5,
  doctor: 6,
  policy: 6,
  runtime: 6,
  cli: 7,
  'index.ts': 8,
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file, resolved to .ts paths. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)\.js'/g)].map((m) =>
    resolve(dirname(file), `${m[1]}.ts`),
  );
}

const floorOf = (file: string) => FLOORS[relative(SRC, file).split('/')[0]!];
const all = files(SRC);
const graph = new Map(all.map((f) => [f, imports(f)]));

describe('the layers of src/ (docs/architecture.md)', () => {
  it('knows the floor of every top-level folder and file', () => {
    for (const f of all) expect(floorOf(f), relative(SRC, f)).toBeDefined();
  });

  it('never imports upwards: config is a leaf, transfer knows no job, jobs know no runtime', () => {
    const upwards = [...graph].flatMap(([from, tos]) =>
      tos
        .filter((to) => floorOf(to)! > floorOf(from)!)
        .map((to) => `${relative(SRC, from)} -> ${relative(SRC, to)}`),
    );
    expect(upwards).toEqual([]);
  });

  it('keeps the job kit free of any one job', () => {
    const kit = join(SRC, 'jobs/kit');
    const leaks = [...graph].flatMap(([from, tos]) =>
      from.startsWith(kit)
        ? tos
            .filter((to) => to.startsWith(join(SRC, 'jobs/')) && !to.startsWith(kit))
            .filter((to) => dirname(to) !== join(SRC, 'jobs'))
            .map((to) => `${relative(SRC, from)} -> ${relative(SRC, to)}`)
        : [],
    );
    expect(leaks).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push(
          [...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' -> '),
        );
        return;
      }
      state.set(file, 'open');
      for (const to of graph.get(file) ?? []) visit(to, [...path, file]);
      state.set(file, 'done');
    };
    for (const f of all) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
