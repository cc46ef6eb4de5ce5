import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryFileError } from '../../../../../../resolvers/adapters/authority/local-ca/errors.ts';
import {
  NODE_FILE_OPERATIONS,
  type JournalFileOperations,
} from '../../../../../../resolvers/adapters/authority/local-ca/journal-file.ts';
import {
  CertificateRegistry,
  type CertificateRecord,
  type CertificateRegistryOptions,
  type ThingRecord,
} from '../../../../../../resolvers/adapters/authority/local-ca/registry.ts';

let directory: string;
let registry: CertificateRegistry;
const opened: CertificateRegistry[] = [];

async function openRegistry(options: CertificateRegistryOptions = {}): Promise<CertificateRegistry> {
  const next = await CertificateRegistry.open(directory, options);
  opened.push(next);
  return next;
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-local-ca-registry-'));
  registry = await openRegistry();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((each) => each.close()));
  await rm(directory, { recursive: true, force: true });
});

function certificate(id: string, createdAt = '2026-03-01T10:00:00.000Z'): CertificateRecord {
  return {
    id,
    arn: `arn:aws:iot:us-east-1:000000000000:cert/${id}`,
    pem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
    status: 'INACTIVE',
    createdAt,
    policies: [],
    things: [],
  };
}

function thing(name: string): ThingRecord {
  return { name, attributes: { model: 'm1' }, principals: [], createdAt: '2026-03-01T10:00:00.000Z' };
}

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);
const ID_C = 'c'.repeat(64);

const journalFile = () => join(directory, 'journal.jsonl');
const snapshotFile = () => join(directory, 'snapshot.jsonl');

async function linesOf(file: string): Promise<unknown[]> {
  const content = await readFile(file, 'utf8');
  return content
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);
}

/** Everything a registry answers: what a reopened one must answer too. */
async function contentsOf(of: CertificateRegistry) {
  return { certificates: await of.listCertificates(), things: await of.listThings() };
}

/** node:fs, counting the appends. */
function countingOperations(): JournalFileOperations & { appends: number } {
  const counting = {
    appends: 0,
    appendSome: (fd: number, bytes: Buffer, offset: number) => {
      counting.appends += 1;
      return NODE_FILE_OPERATIONS.appendSome(fd, bytes, offset);
    },
    truncate: NODE_FILE_OPERATIONS.truncate,
  };
  return counting;
}

/** node:fs, but while `failing` an append writes half its bytes and fails, and while `truncateFails` truncating fails. */
function failingOperations() {
  const state = { failing: false, truncateFails: false };
  const operations: JournalFileOperations = {
    appendSome: async (fd, bytes, offset) => {
      if (!state.failing) return NODE_FILE_OPERATIONS.appendSome(fd, bytes, offset);
      // Half the bytes reach the file, as when the disk fills up part-way.
      const half = bytes.subarray(0, offset + Math.floor((bytes.length - offset) / 2));
      await NODE_FILE_OPERATIONS.appendSome(fd, half, offset);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
    truncate: (fd, length) =>
      state.truncateFails
        ? Promise.reject(new Error('EIO: i/o error, ftruncate'))
        : NODE_FILE_OPERATIONS.truncate(fd, length),
  };
  return { state, operations };
}

describe('CertificateRegistry', () => {
  it('keeps certificates and things across a reopen', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateCertificate(ID_B, () => certificate(ID_B, '2026-03-02T10:00:00.000Z'));
    await registry.updateCertificate(ID_B, (current) => current && { ...current, status: 'ACTIVE' });
    await registry.updateCertificate(ID_C, () => certificate(ID_C));
    await registry.updateCertificate(ID_C, () => undefined);
    await registry.updateThing('SN:0001', () => thing('SN:0001'));
    await registry.updateThing('SN:0002', () => thing('SN:0002'));

    const reopened = await openRegistry();

    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
    await expect(reopened.getThing('SN:0001')).resolves.toEqual(thing('SN:0001'));
    await expect(reopened.getCertificate(ID_C)).resolves.toBeUndefined();
    expect(await contentsOf(reopened)).toEqual(await contentsOf(registry));
  });

  it('answers undefined for what it does not hold, including ids that could not be certificate ids', async () => {
    await expect(registry.getCertificate(ID_A)).resolves.toBeUndefined();
    await expect(registry.getCertificate('../../etc/passwd')).resolves.toBeUndefined();
    await expect(registry.getThing('nobody')).resolves.toBeUndefined();
  });

  it('stores each change as one line holding the whole record, appended to its journal', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateThing('SN-1', () => thing('SN-1'));
    await registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' });
    await registry.updateThing('SN-1', () => undefined);

    expect(await linesOf(journalFile())).toEqual([
      { kind: 'certificate', key: ID_A, record: certificate(ID_A) },
      { kind: 'thing', key: 'SN-1', record: thing('SN-1') },
      { kind: 'certificate', key: ID_A, record: { ...certificate(ID_A), status: 'ACTIVE' } },
      { kind: 'thing', key: 'SN-1', record: null },
    ]);
    expect((await readdir(directory)).sort()).toEqual(['journal.jsonl', 'snapshot.jsonl']);
    expect(await readFile(snapshotFile(), 'utf8')).toBe('');
  });

  it('tells apart thing names that differ only in case', async () => {
    await registry.updateThing('Sensor-1', () => thing('Sensor-1'));
    await registry.updateThing('sensor-1', () => thing('sensor-1'));
    expect((await registry.listThings()).map((record) => record.name)).toEqual(['Sensor-1', 'sensor-1']);
  });

  it('lists certificates oldest first', async () => {
    await registry.updateCertificate(ID_B, () => certificate(ID_B, '2026-03-01T10:00:00.000Z'));
    await registry.updateCertificate(ID_A, () => certificate(ID_A, '2026-03-02T10:00:00.000Z'));
    expect((await registry.listCertificates()).map((record) => record.id)).toEqual([ID_B, ID_A]);
  });

  it('removes at opening the temporary files of snapshots a killed process never finished, and only those', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await writeFile(join(directory, 'snapshot.jsonl.0123abcd.tmp'), '{"kind":"certif');
    await writeFile(join(directory, 'notes.txt'), 'mine');

    const reopened = await openRegistry();

    expect((await readdir(directory)).sort()).toEqual(['journal.jsonl', 'notes.txt', 'snapshot.jsonl']);
    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
  });

  it('answers what its files hold after concurrent changes, as a registry opened afresh reads them', async () => {
    await Promise.all([
      registry.updateCertificate(ID_A, () => certificate(ID_A)),
      registry.updateCertificate(ID_A, (current) => current && { ...current, policies: ['p'] }),
      registry.getCertificate(ID_A),
      registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' }),
      registry.updateThing('SN-1', () => thing('SN-1')),
      registry.updateThing('SN-1', () => undefined),
    ]);
    const reopened = await openRegistry();

    const expected = { ...certificate(ID_A), policies: ['p'], status: 'ACTIVE' };
    await expect(registry.getCertificate(ID_A)).resolves.toEqual(expected);
    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(expected);
    await expect(registry.getThing('SN-1')).resolves.toBeUndefined();
    await expect(reopened.getThing('SN-1')).resolves.toBeUndefined();
  });

  it('does not show a change to readers before it is stored', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    const activating = registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' });
    await expect(registry.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
    await activating;
    await expect(registry.getCertificate(ID_A)).resolves.toMatchObject({ status: 'ACTIVE' });
  });

  it('deletes a record when the change returns undefined, and deleting an absent one is no error', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateCertificate(ID_A, () => undefined);
    await registry.updateCertificate(ID_A, () => undefined);
    await expect(registry.getCertificate(ID_A)).resolves.toBeUndefined();
    expect(await linesOf(journalFile())).toHaveLength(2); // the second deletion changed nothing
  });

  it('leaves the record as it was when the change throws', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    const failing = registry.updateCertificate(ID_A, () => {
      throw new Error('refused');
    });
    await expect(failing).rejects.toThrow('refused');
    await expect(registry.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
  });

  it('applies concurrent changes to one record one after another, losing none', async () => {
    await registry.updateThing('SN-1', () => thing('SN-1'));
    const principals = Array.from({ length: 50 }, (_, index) => `principal-${index}`);

    await Promise.all(
      principals.map((principal) =>
        registry.updateThing('SN-1', (current) =>
          current === undefined ? undefined : { ...current, principals: [...current.principals, principal] },
        ),
      ),
    );

    expect((await registry.getThing('SN-1'))?.principals).toEqual(principals);
  });

  it('goes on with the next change after one fails', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    const results = await Promise.allSettled([
      registry.updateCertificate(ID_A, () => {
        throw new Error('first fails');
      }),
      registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled']);
    await expect(registry.getCertificate(ID_A)).resolves.toMatchObject({ status: 'ACTIVE' });
  });

  it('refuses to store a certificate under an id that is not a SHA-256', async () => {
    await expect(registry.updateCertificate('not-an-id', () => certificate('not-an-id'))).rejects.toThrow(
      /Not a certificate id/,
    );
  });

  it('tells listeners of every stored certificate change, with the record as stored, and of nothing else', async () => {
    const heard: [string, string | undefined][] = [];
    const stop = registry.onCertificateChange((id, record) => heard.push([id, record?.status]));
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateCertificate(ID_A, (current) => current); // no change: nothing written, nothing told
    await registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'REVOKED' });
    await registry
      .updateCertificate(ID_A, () => {
        throw new Error('refused');
      })
      .catch(() => undefined);
    await registry.updateThing('t1', () => thing('t1'));
    await registry.updateCertificate(ID_A, () => undefined);
    stop();
    await registry.updateCertificate(ID_B, () => certificate(ID_B));
    expect(heard).toEqual([
      [ID_A, 'INACTIVE'],
      [ID_A, 'REVOKED'],
      [ID_A, undefined],
    ]);
  });

  it('tells a listener once the change is stored, before the change resolves', async () => {
    const order: string[] = [];
    registry.onCertificateChange((id) => order.push(`told ${id === ID_A ? 'A' : '?'}`));
    await registry.updateCertificate(ID_A, () => certificate(ID_A)).then(() => order.push('resolved'));
    expect(order).toEqual(['told A', 'resolved']);
  });

  describe('group commit', () => {
    it('stores changes asked for together with one write, one line per record, and tells listeners once', async () => {
      const operations = countingOperations();
      const counted = await openRegistry({ fileOperations: operations });
      const heard: string[] = [];
      counted.onCertificateChange((id, record) => heard.push(`${id.slice(0, 1)} ${record?.policies.join(',')}`));

      const answers = await Promise.all([
        counted.updateCertificate(ID_A, () => certificate(ID_A)),
        counted.updateThing('SN-1', () => thing('SN-1')),
        counted.updateCertificate(ID_A, (current) => current && { ...current, policies: ['p'] }),
        counted.updateCertificate(ID_B, () => certificate(ID_B)),
        counted.updateThing('SN-2', () => thing('SN-2')),
      ]);

      expect(operations.appends).toBe(1);
      expect(answers[0]).toEqual(certificate(ID_A)); // each answered with the record as it left it
      expect(answers[2]).toEqual({ ...certificate(ID_A), policies: ['p'] });
      expect(heard).toEqual([`a p`, `b `]);
      expect(await linesOf(journalFile())).toHaveLength(4);
    });

    it('stores everything asked for while a write is in flight with the next single write', async () => {
      let releaseFirst: () => void = () => undefined;
      const firstWriteHeld = new Promise<void>((resolve) => {
        releaseFirst = resolve;
      });
      let appends = 0;
      const held = await openRegistry({
        fileOperations: {
          appendSome: async (fd, bytes, offset) => {
            appends += 1;
            if (appends === 1) await firstWriteHeld;
            return NODE_FILE_OPERATIONS.appendSome(fd, bytes, offset);
          },
          truncate: NODE_FILE_OPERATIONS.truncate,
        },
      });

      const first = held.updateThing('SN-1', () => thing('SN-1'));
      while (appends === 0) await new Promise((resolve) => setImmediate(resolve));
      const later = [ID_A, ID_B, ID_C].map((id) => held.updateCertificate(id, () => certificate(id)));
      const addPrincipal = held.updateThing('SN-1', (current) => current && { ...current, principals: ['x'] });
      releaseFirst();
      await Promise.all([first, ...later, addPrincipal]);

      expect(appends).toBe(2);
      await expect(held.getThing('SN-1')).resolves.toMatchObject({ principals: ['x'] });
      expect(await contentsOf(await openRegistry())).toEqual(await contentsOf(held));
    });
  });

  describe('a failed write', () => {
    it('rejects every change it was to store and leaves memory and the journal as they were', async () => {
      const { state, operations } = failingOperations();
      const failing = await openRegistry({ fileOperations: operations });
      await failing.updateCertificate(ID_A, () => certificate(ID_A));
      const journalBefore = await readFile(journalFile());
      const heard: string[] = [];
      failing.onCertificateChange((id) => heard.push(id));

      state.failing = true;
      const results = await Promise.allSettled([
        failing.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' }),
        failing.updateCertificate(ID_B, () => certificate(ID_B)),
        failing.updateThing('SN-1', () => thing('SN-1')),
      ]);
      state.failing = false;

      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/ENOSPC/);
      expect(heard).toEqual([]);
      await expect(failing.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
      await expect(failing.getCertificate(ID_B)).resolves.toBeUndefined();
      await expect(failing.getThing('SN-1')).resolves.toBeUndefined();
      expect(await readFile(journalFile())).toEqual(journalBefore);

      await failing.updateThing('SN-2', () => thing('SN-2'));
      const reopened = await openRegistry();
      expect(await contentsOf(reopened)).toEqual({ certificates: [certificate(ID_A)], things: [thing('SN-2')] });
    });

    it('is cut off before the next write when cutting it off failed at first', async () => {
      const { state, operations } = failingOperations();
      const failing = await openRegistry({ fileOperations: operations });
      await failing.updateCertificate(ID_A, () => certificate(ID_A));

      state.failing = true;
      state.truncateFails = true;
      await expect(failing.updateCertificate(ID_B, () => certificate(ID_B))).rejects.toThrow(/ENOSPC/);
      state.failing = false;
      await expect(failing.updateThing('SN-1', () => thing('SN-1'))).rejects.toThrow(/EIO/); // still torn
      state.truncateFails = false;
      await failing.updateThing('SN-2', () => thing('SN-2'));

      expect(await linesOf(journalFile())).toHaveLength(2); // the torn half is gone
      const reopened = await openRegistry();
      expect(await contentsOf(reopened)).toEqual({ certificates: [certificate(ID_A)], things: [thing('SN-2')] });
    });
  });

  describe('opening a journal a killed process left', () => {
    it('drops a torn last line without its newline, and cuts it off so that later lines follow whole ones', async () => {
      await registry.updateCertificate(ID_A, () => certificate(ID_A));
      await registry.updateThing('SN-1', () => thing('SN-1'));
      const whole = (await stat(journalFile())).size;
      await appendFile(journalFile(), '{"kind":"certificate","key":"bbbb');

      const reopened = await openRegistry();

      expect(await contentsOf(reopened)).toEqual({ certificates: [certificate(ID_A)], things: [thing('SN-1')] });
      expect((await stat(journalFile())).size).toBe(whole);
      await reopened.updateCertificate(ID_B, () => certificate(ID_B));
      expect(await linesOf(journalFile())).toHaveLength(3);
      expect((await contentsOf(await openRegistry())).certificates).toEqual([certificate(ID_A), certificate(ID_B)]);
    });

    it('drops a whole line cut short just before its newline, and a last line that is not valid JSON', async () => {
      await registry.updateCertificate(ID_A, () => certificate(ID_A));
      const lastLine = JSON.stringify({ kind: 'certificate', key: ID_B, record: certificate(ID_B) });
      await appendFile(journalFile(), lastLine);
      await expect((await openRegistry()).getCertificate(ID_B)).resolves.toBeUndefined();

      await appendFile(journalFile(), '\u0000\u0000\u0000\n');
      await expect((await openRegistry()).getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
      expect(await linesOf(journalFile())).toHaveLength(1);
    });

    it('refuses a line that is not a record anywhere but at the end, naming the file and the line', async () => {
      await registry.updateCertificate(ID_A, () => certificate(ID_A));
      await appendFile(journalFile(), '{"kind":"certificate","key":"bbbb\n');
      await registry.updateThing('SN-1', () => thing('SN-1'));
      const before = await readFile(journalFile());

      const opening = CertificateRegistry.open(directory);

      await expect(opening).rejects.toBeInstanceOf(RegistryFileError);
      await expect(opening).rejects.toMatchObject({ file: journalFile(), line: 2 });
      await expect(opening).rejects.toThrow(`${journalFile()} is damaged at line 2: not valid JSON`);
      expect(await readFile(journalFile())).toEqual(before); // nothing cut off
    });

    it.each([
      ['an unknown kind', '{"kind":"policy","key":"p","record":{}}', /"kind" is none of certificate, thing/],
      ['no key', '{"kind":"thing","record":{}}', /"key" is not a non-empty string/],
      ['a record that is no object', '{"kind":"thing","key":"t","record":[1]}', /"record" is neither/],
      ['an empty line', '', /not valid JSON/],
    ])('refuses a line with %s', async (_case, line, reason) => {
      await writeFile(journalFile(), `${line}\n${JSON.stringify({ kind: 'thing', key: 't', record: thing('t') })}\n`);
      await expect(CertificateRegistry.open(directory)).rejects.toThrow(reason);
    });

    it('refuses a snapshot with a damaged line, even its last: it is only ever renamed into place whole', async () => {
      await writeFile(snapshotFile(), `${JSON.stringify({ kind: 'thing', key: 't', record: thing('t') })}\n{"kind"`);
      await expect(CertificateRegistry.open(directory)).rejects.toMatchObject({ file: snapshotFile(), line: 2 });
    });
  });

  describe('compaction', () => {
    const smallRule = { minJournalBytes: 4096, liveRatio: 2 };

    async function churn(on: CertificateRegistry, rounds: number): Promise<void> {
      for (let round = 0; round < rounds; round += 1) {
        await on.updateCertificate(ID_A, (current) => ({
          ...(current ?? certificate(ID_A)),
          policies: [`policy-${round}`],
        }));
      }
    }

    it('replaces the journal with a snapshot once the journal is well beyond the records', async () => {
      const compacting = await openRegistry({ compaction: smallRule });
      await compacting.updateThing('SN-1', () => thing('SN-1'));
      await compacting.updateCertificate(ID_B, () => certificate(ID_B));
      await compacting.updateCertificate(ID_B, () => undefined);
      await churn(compacting, 40);

      const snapshot = await linesOf(snapshotFile());
      expect(snapshot).toEqual(
        expect.arrayContaining([
          { kind: 'thing', key: 'SN-1', record: thing('SN-1') },
          { kind: 'certificate', key: ID_A, record: expect.objectContaining({ id: ID_A }) as unknown },
        ]),
      );
      expect(snapshot).toHaveLength(2); // the deleted certificate is gone for good
      expect((await stat(journalFile())).size).toBeLessThan(smallRule.minJournalBytes);
      await expect(compacting.getCertificate(ID_A)).resolves.toMatchObject({ policies: ['policy-39'] });
      expect(await contentsOf(await openRegistry())).toEqual(await contentsOf(compacting));
    });

    /** Changes a record until a write compacts; answers the registry and its journal as they were just before. */
    async function changeUntilCompacted(on: CertificateRegistry) {
      for (let round = 0; ; round += 1) {
        const journalBefore = await readFile(journalFile());
        const before = await contentsOf(on);
        await on.updateCertificate(ID_A, (current) => ({
          ...(current ?? certificate(ID_A)),
          policies: [`policy-${round}`],
        }));
        if ((await stat(journalFile())).size < journalBefore.length) return { journalBefore, before };
      }
    }

    it('loses nothing when the process is killed between renaming the snapshot and emptying the journal', async () => {
      const compacting = await openRegistry({ compaction: smallRule });
      await compacting.updateThing('SN-1', () => thing('SN-1'));
      await compacting.updateCertificate(ID_B, () => certificate(ID_B));
      await changeUntilCompacted(compacting); // SN-1 and B are now in the snapshot only
      await compacting.updateThing('SN-2', () => thing('SN-2'));
      const { journalBefore, before } = await changeUntilCompacted(compacting);

      // Killed after the rename, before the truncation: the new snapshot beside the journal it summarizes.
      await writeFile(journalFile(), journalBefore);

      const reopened = await openRegistry();
      expect(await contentsOf(reopened)).toEqual(before);
      expect(before.things.map((record) => record.name)).toEqual(['SN-1', 'SN-2']);
      expect(before.certificates.map((record) => record.id)).toEqual([ID_A, ID_B]);
    });

    it('fails the write, changing nothing, when the snapshot cannot be written', async () => {
      const compacting = await openRegistry({ compaction: { minJournalBytes: 1, liveRatio: 0 } });
      await compacting.updateCertificate(ID_A, () => certificate(ID_A));
      await rm(snapshotFile());
      await mkdir(snapshotFile()); // a directory where the snapshot should go: the rename fails

      await expect(compacting.updateThing('SN-1', () => thing('SN-1'))).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);

      await expect(compacting.getThing('SN-1')).resolves.toBeUndefined();
      await rm(snapshotFile(), { recursive: true });
      expect(await contentsOf(await openRegistry())).toEqual({ certificates: [certificate(ID_A)], things: [] });
    });
  });

  describe('a data directory of the layout before the journal (one file per record)', () => {
    const things = [thing('SN:0001'), thing('sn:0001')];
    const certificates = [certificate(ID_A), { ...certificate(ID_B, '2026-03-02T10:00:00.000Z'), status: 'ACTIVE' }];

    /** The files the registry wrote before its journal, as it wrote them. */
    async function writeOldLayout(): Promise<void> {
      await mkdir(join(directory, 'certificates'), { recursive: true });
      await mkdir(join(directory, 'things'), { recursive: true });
      for (const record of certificates) {
        await writeFile(join(directory, 'certificates', `${record.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
      }
      for (const record of things) {
        const digest = createHash('sha256').update(record.name, 'utf8').digest('hex');
        await writeFile(join(directory, 'things', `${digest}.json`), `${JSON.stringify(record, null, 2)}\n`);
      }
      // A write a killed process never finished, and a spare file the old writer kept.
      await writeFile(join(directory, 'certificates', `${ID_C}.json.0123.tmp`), '{"torn":');
      await writeFile(join(directory, 'things', `abc.json.4567.tmp`), '');
    }

    beforeEach(async () => {
      await rm(directory, { recursive: true, force: true });
      await mkdir(directory);
    });

    it('is read at opening into a snapshot, its files removed, and works unchanged', async () => {
      await writeOldLayout();

      const migrated = await openRegistry();

      expect(await contentsOf(migrated)).toEqual({ certificates, things });
      expect((await readdir(directory)).sort()).toEqual(['journal.jsonl', 'snapshot.jsonl']);
      expect(await linesOf(snapshotFile())).toHaveLength(4);
      await migrated.updateCertificate(ID_A, (current) => current && { ...current, status: 'REVOKED' });
      const reopened = await openRegistry();
      await expect(reopened.getCertificate(ID_A)).resolves.toMatchObject({ status: 'REVOKED' });
      expect((await contentsOf(reopened)).things).toEqual(things);
    });

    it('is read again, to the same records, when the process was killed before the old files were all removed', async () => {
      await writeOldLayout();
      await openRegistry(); // the snapshot written, the old files removed
      // As if killed part-way through the removal: the snapshot in place, some of the old files still there.
      await writeOldLayout();
      await rm(join(directory, 'certificates', `${ID_A}.json`));
      await rm(join(directory, 'things'), { recursive: true });

      const again = await openRegistry();

      expect(await contentsOf(again)).toEqual({ certificates, things });
      expect((await readdir(directory)).sort()).toEqual(['journal.jsonl', 'snapshot.jsonl']);
    });

    it('is read again when the process was killed while writing the first snapshot', async () => {
      await writeOldLayout();
      await writeFile(join(directory, 'snapshot.jsonl.89abcdef.tmp'), '{"kind":"certificate","ke');

      const migrated = await openRegistry();

      expect(await contentsOf(migrated)).toEqual({ certificates, things });
      expect((await readdir(directory)).sort()).toEqual(['journal.jsonl', 'snapshot.jsonl']);
    });

    it('names the file that is not a record', async () => {
      await writeOldLayout();
      const damaged = join(directory, 'certificates', `${ID_C}.json`);
      await writeFile(damaged, '{"id":');
      await expect(CertificateRegistry.open(directory)).rejects.toThrow(
        `The registry record ${damaged} is not valid JSON`,
      );
      expect(await readdir(join(directory, 'certificates'))).toContain(`${ID_A}.json`); // nothing removed
    });
  });
});
