import { describe, expect, it } from 'vitest';
import {
  joinPrefix,
  relativeKey,
  renderKeyTemplate,
  renderTemplate,
  splitKey,
  templatePlaceholders,
  unknownPlaceholders,
} from '../../src/jobs/kit/key-template.js';
import { UnsafeOutputKeyError } from '../../src/jobs/kit/unsafe-output-key-error.js';

const render = (template: string, key: string, prefix = 'in/') =>
  renderKeyTemplate(template, { key, relKey: relativeKey(key, prefix) });

describe('key templates', () => {
  it('fills {key}, {relkey}, {dir}, {name} and {ext}', () => {
    expect(render('{relkey}.gz', 'in/a/b/c.tar.gz')).toBe('a/b/c.tar.gz.gz');
    expect(render('{key}', 'in/a/b/c.tar.gz')).toBe('in/a/b/c.tar.gz');
    expect(render('{dir}/{name}.json{ext}', 'in/a/b/c.tar.gz')).toBe('a/b/c.tar.json.gz');
    expect(render('{name}-copy{ext}', 'in/x.csv')).toBe('x-copy.csv');
  });

  it('drops the empty {dir} of a top-level key instead of writing a leading slash', () => {
    expect(render('{dir}/{name}.out', 'in/top.txt')).toBe('top.out');
  });

  it('treats a leading dot as part of the name (dotfiles), not an extension', () => {
    expect(splitKey('dir/.env')).toEqual({ dir: 'dir', name: '.env', ext: '' });
    expect(splitKey('noext')).toEqual({ dir: '', name: 'noext', ext: '' });
  });

  it('keeps spaces, unicode, + and % byte for byte', () => {
    for (const key of [
      'in/a b/c d.txt',
      'in/ünï/日本語.txt',
      'in/a+b/c+%2F.txt',
      'in/100%/x.txt',
    ]) {
      expect(render('{relkey}', key)).toBe(key.slice(3));
    }
  });

  it('normalises ./, // and a leading / so outputs stay under the prefix', () => {
    expect(render('/{relkey}', 'in/a.txt')).toBe('a.txt');
    expect(render('./x//{name}', 'in/a.txt')).toBe('x/a');
  });

  it('resolves .. inside the prefix and rejects a .. that would climb above it', () => {
    expect(render('{dir}/../{name}', 'in/a/b.txt')).toBe('b');
    expect(() => render('../{relkey}', 'in/a.txt')).toThrow(UnsafeOutputKeyError);
    expect(() => render('{relkey}', 'in/../../etc/passwd')).toThrow(/climbs above/);
    expect(() => render('{relkey}', 'in/a/../../b')).toThrow(UnsafeOutputKeyError);
  });

  it('rejects an output key that normalises to nothing', () => {
    expect(() => render('{dir}', 'in/a.txt')).toThrow(/empty/);
  });

  it('lists unknown placeholders for the config check', () => {
    expect(unknownPlaceholders('{rel_key}/{name}{EXT}')).toEqual(['rel_key', 'EXT']);
    expect(unknownPlaceholders('{relkey}.gz')).toEqual([]);
  });
});

describe('relative keys and prefixes', () => {
  it('strips a folder prefix with or without its trailing slash', () => {
    expect(relativeKey('logs/a/b.txt', 'logs/')).toBe('a/b.txt');
    expect(relativeKey('logs/a/b.txt', 'logs')).toBe('a/b.txt');
    expect(relativeKey('logs/a/b.txt', '')).toBe('logs/a/b.txt');
  });

  it('keeps whole names when the prefix ends mid-name', () => {
    expect(relativeKey('logs/2024-01.txt', 'logs/2024-')).toBe('2024-01.txt');
    expect(relativeKey('logs-old/x', 'logs')).toBe('logs-old/x');
  });

  it('joins an output prefix and a relative key with one slash', () => {
    expect(joinPrefix('out', 'a.gz')).toBe('out/a.gz');
    expect(joinPrefix('out/', 'a.gz')).toBe('out/a.gz');
    expect(joinPrefix('', 'a.gz')).toBe('a.gz');
  });
});

describe('renderTemplate (any job’s own key template)', () => {
  it('fills every placeholder from the fields', () => {
    expect(
      renderTemplate('logs/{yyyy}/{MM}/{host}-{seq}.gz', {
        yyyy: '2026',
        MM: '11',
        host: 'a b',
        seq: '7',
      }),
    ).toBe('logs/2026/11/a b-7.gz');
  });

  it('refuses a placeholder it has no field for, naming the known ones', () => {
    expect(() => renderTemplate('{yyyy}/{hour}', { yyyy: '2026', HH: '01' })).toThrow(
      /unknown placeholder \{hour\}; use \{yyyy\}, \{HH\}/,
    );
    expect(templatePlaceholders('{a}/x/{b}')).toEqual(['a', 'b']);
  });
});
