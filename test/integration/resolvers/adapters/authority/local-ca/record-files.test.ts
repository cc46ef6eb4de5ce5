import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordFiles } from '../../../../../../resolvers/adapters/authority/local-ca/record-files.ts';

interface Note {
  readonly tags: readonly string[];
}

let directory: string;
let file: string;
let stored: (Note | undefined)[];
let notes: RecordFiles<Note>;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-record-files-'));
  file = join(directory, 'note.json');
  stored = [];
  notes = new RecordFiles<Note>({ cachedRecords: 16, onStored: (_file, record) => stored.push(record) });
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

const tagged =
  (tag: string) =>
  (current: Note | undefined): Note => ({ tags: [...(current?.tags ?? []), tag] });

async function onDisk(): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8')) as unknown;
}

describe('RecordFiles', () => {
  it('stores changes asked for together with one write, each answered with the record as it left it', async () => {
    const answers = await Promise.all([notes.update(file, tagged('a')), notes.update(file, tagged('b'))]);

    expect(answers).toEqual([{ tags: ['a'] }, { tags: ['a', 'b'] }]);
    expect(stored).toEqual([{ tags: ['a', 'b'] }]);
    expect(await onDisk()).toEqual({ tags: ['a', 'b'] });
  });

  it('applies the changes asked for during a write after it, in order, losing none', async () => {
    const first = notes.update(file, tagged('a'));
    await Promise.resolve(); // the first batch has started
    await Promise.resolve();
    const later = ['b', 'c', 'd'].map((tag) => notes.update(file, tagged(tag)));
    await Promise.all([first, ...later]);

    expect(await notes.read(file)).toEqual({ tags: ['a', 'b', 'c', 'd'] });
    expect(await onDisk()).toEqual({ tags: ['a', 'b', 'c', 'd'] });
  });

  it('rejects a change that throws and still stores the others of its batch', async () => {
    const results = await Promise.allSettled([
      notes.update(file, tagged('a')),
      notes.update(file, () => {
        throw new Error('refused');
      }),
      notes.update(file, tagged('c')),
    ]);

    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await onDisk()).toEqual({ tags: ['a', 'c'] });
  });

  it('fails every change a failed write was to store, and answers the record as stored afterwards', async () => {
    await notes.update(file, tagged('a'));
    await rename(directory, `${directory}.away`); // the next write finds no directory to write in
    const results = await Promise.allSettled([notes.update(file, tagged('b')), notes.update(file, tagged('c'))]);
    await rename(`${directory}.away`, directory);

    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(stored).toEqual([{ tags: ['a'] }]);
    await expect(notes.read(file)).resolves.toEqual({ tags: ['a'] });
    await expect(notes.update(file, tagged('d'))).resolves.toEqual({ tags: ['a', 'd'] });
  });

  it('writes nothing for changes that leave the record as it is, and deletes the file for undefined', async () => {
    await notes.update(file, (current) => current);
    expect(await readdir(directory)).toEqual([]);
    await notes.update(file, tagged('a'));
    await notes.update(file, () => undefined);

    expect(await readdir(directory)).toEqual([]);
    expect(stored).toEqual([{ tags: ['a'] }, undefined]);
    await expect(notes.read(file)).resolves.toBeUndefined();
  });

  it('keeps at most its bound of records in memory, reading an evicted one again from disk', async () => {
    const small = new RecordFiles<Note>({ cachedRecords: 2 });
    const [one, two, three] = ['one', 'two', 'three'].map((name) => join(directory, `${name}.json`)) as [
      string,
      string,
      string,
    ];
    await small.update(one, tagged('1'));
    await small.update(two, tagged('2'));
    const behindItsBack = () => ({ tags: ['changed behind its back'] });
    await notes.update(one, behindItsBack);
    await notes.update(two, behindItsBack);
    await expect(small.read(two)).resolves.toEqual({ tags: ['2'] }); // in memory: the file is not read

    await small.update(three, tagged('3')); // two and three were used last: one is evicted
    await expect(small.read(one)).resolves.toEqual({ tags: ['changed behind its back'] });
  });
});
