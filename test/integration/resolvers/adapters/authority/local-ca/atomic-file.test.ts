import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AtomicReplacer,
  isTemporaryFileName,
} from '../../../../../../resolvers/adapters/authority/local-ca/atomic-file.ts';

let directory: string;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-atomic-file-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('AtomicReplacer', () => {
  it('writes into the version it displaced last time instead of a new file', async () => {
    const files = new AtomicReplacer();
    const file = join(directory, 'record.json');
    const inodes: number[] = [];
    for (const version of ['v1', 'v2', 'v3', 'v4', 'v5']) {
      await files.replace(file, version);
      inodes.push((await stat(file)).ino);
      expect(await readFile(file, 'utf8')).toBe(version);
    }

    // A new file, a new spare, and from then on the same two inodes in turn.
    expect(new Set(inodes).size).toBe(2);
    expect(inodes[2]).toBe(inodes[0]);
    expect(inodes[3]).toBe(inodes[1]);
    // Besides the record, one spare, named as a temporary file that readers skip.
    const spares = (await readdir(directory)).filter((name) => name !== 'record.json');
    expect(spares).toHaveLength(1);
    expect(spares.every(isTemporaryFileName)).toBe(true);
  });

  it('keeps files apart when several are replaced at once', async () => {
    const files = new AtomicReplacer();
    const names = Array.from({ length: 8 }, (_, index) => join(directory, `r${index}.json`));
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(names.map((name) => files.replace(name, `${name} round ${round}`)));
    }

    for (const name of names) expect(await readFile(name, 'utf8')).toBe(`${name} round 2`);
    const spares = (await readdir(directory)).filter(isTemporaryFileName);
    expect(spares.length).toBeLessThanOrEqual(names.length);
  });

  it('fails without leaving a file behind when the directory is gone', async () => {
    const files = new AtomicReplacer();
    const gone = join(directory, 'gone');
    await expect(files.replace(join(gone, 'record.json'), 'v1')).rejects.toThrow(/ENOENT/);
    expect(await readdir(directory)).toEqual([]);
  });
});
