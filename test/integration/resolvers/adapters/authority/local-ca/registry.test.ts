import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CertificateRegistry,
  type CertificateRecord,
  type ThingRecord,
} from '../../../../../../resolvers/adapters/authority/local-ca/registry.ts';

let directory: string;
let registry: CertificateRegistry;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-local-ca-registry-'));
  registry = await CertificateRegistry.open(directory);
});

afterEach(async () => {
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

describe('CertificateRegistry', () => {
  it('keeps certificates and things across a reopen', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateThing('SN:0001', () => thing('SN:0001'));

    const reopened = await CertificateRegistry.open(directory);

    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
    await expect(reopened.getThing('SN:0001')).resolves.toEqual(thing('SN:0001'));
  });

  it('answers undefined for what it does not hold, including ids that could not be file names', async () => {
    await expect(registry.getCertificate(ID_A)).resolves.toBeUndefined();
    await expect(registry.getCertificate('../../etc/passwd')).resolves.toBeUndefined();
    await expect(registry.getThing('nobody')).resolves.toBeUndefined();
  });

  it('keeps one file per record, so a write does not rewrite the others', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateCertificate(ID_B, () => certificate(ID_B));
    await registry.updateThing('SN-1', () => thing('SN-1'));

    expect((await readdir(join(directory, 'certificates'))).sort()).toEqual([`${ID_A}.json`, `${ID_B}.json`]);
    expect(await readdir(join(directory, 'things'))).toHaveLength(1);
  });

  it('tells apart thing names that differ only in case', async () => {
    await registry.updateThing('Sensor-1', () => thing('Sensor-1'));
    await registry.updateThing('sensor-1', () => thing('sensor-1'));
    expect((await registry.listThings()).map((record) => record.name)).toEqual(['Sensor-1', 'sensor-1']);
  });

  it('lists certificates oldest first and skips temporary files left by a crash', async () => {
    await registry.updateCertificate(ID_B, () => certificate(ID_B, '2026-03-01T10:00:00.000Z'));
    await registry.updateCertificate(ID_A, () => certificate(ID_A, '2026-03-02T10:00:00.000Z'));
    await writeFile(join(directory, 'certificates', `${ID_A}.json.0123.tmp`), '{"torn":');

    expect((await registry.listCertificates()).map((record) => record.id)).toEqual([ID_B, ID_A]);
  });

  it('removes at opening the temporary files a killed process left, and only those', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateThing('SN-1', () => thing('SN-1'));
    await writeFile(join(directory, 'certificates', `${ID_B}.json.0123.tmp`), '{"torn":');
    await writeFile(join(directory, 'things', 'abc.json.4567.tmp'), '');

    const reopened = await CertificateRegistry.open(directory);

    expect(await readdir(join(directory, 'certificates'))).toEqual([`${ID_A}.json`]);
    expect(await readdir(join(directory, 'things'))).toHaveLength(1);
    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
    await expect(reopened.getThing('SN-1')).resolves.toEqual(thing('SN-1'));
  });

  it('answers what its files hold after concurrent changes, as a registry opened afresh reads them', async () => {
    await registry.getCertificate(ID_A); // known absent, then created
    await Promise.all([
      registry.updateCertificate(ID_A, () => certificate(ID_A)),
      registry.updateCertificate(ID_A, (current) => current && { ...current, policies: ['p'] }),
      registry.getCertificate(ID_A),
      registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' }),
      registry.updateThing('SN-1', () => thing('SN-1')),
      registry.updateThing('SN-1', () => undefined),
    ]);
    const reopened = await CertificateRegistry.open(directory);

    const expected = { ...certificate(ID_A), policies: ['p'], status: 'ACTIVE' };
    await expect(registry.getCertificate(ID_A)).resolves.toEqual(expected);
    await expect(reopened.getCertificate(ID_A)).resolves.toEqual(expected);
    await expect(registry.getThing('SN-1')).resolves.toBeUndefined();
    await expect(reopened.getThing('SN-1')).resolves.toBeUndefined();
  });

  it('answers the record as stored when writing a change failed', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    const certificates = join(directory, 'certificates');
    await rename(certificates, `${certificates}.away`); // the next write finds no directory to write in
    const failing = registry.updateCertificate(ID_A, (current) => current && { ...current, status: 'ACTIVE' });
    await expect(failing).rejects.toThrow(/ENOENT/);
    await rename(`${certificates}.away`, certificates);

    await expect(registry.getCertificate(ID_A)).resolves.toEqual(certificate(ID_A));
  });

  it('deletes a record when the change returns undefined, and deleting an absent one is no error', async () => {
    await registry.updateCertificate(ID_A, () => certificate(ID_A));
    await registry.updateCertificate(ID_A, () => undefined);
    await registry.updateCertificate(ID_A, () => undefined);
    await expect(registry.getCertificate(ID_A)).resolves.toBeUndefined();
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
});
