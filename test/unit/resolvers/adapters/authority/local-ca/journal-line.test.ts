import { describe, expect, it } from 'vitest';
import { RegistryFileError } from '../../../../../../resolvers/adapters/authority/local-ca/errors.ts';
import { encodeEntry, readEntries } from '../../../../../../resolvers/adapters/authority/local-ca/journal-line.ts';

const KINDS = new Set(['certificate', 'thing']);
const FILE = '/data/registry/journal.jsonl';

const thing = { kind: 'thing', key: 'SN:0001', record: { name: 'SN:0001', attributes: { model: 'm1' } } };
const deleted = { kind: 'certificate', key: 'a'.repeat(64), record: undefined };

describe('encodeEntry', () => {
  it('writes one line of JSON holding the whole record, null for a deletion', () => {
    expect(encodeEntry(thing).toString('utf8')).toBe(
      '{"kind":"thing","key":"SN:0001","record":{"name":"SN:0001","attributes":{"model":"m1"}}}\n',
    );
    expect(encodeEntry(deleted).toString('utf8')).toBe(
      `{"kind":"certificate","key":"${'a'.repeat(64)}","record":null}\n`,
    );
  });

  it('keeps a newline inside a record (a PEM) escaped, so that a line is one record', () => {
    const line = encodeEntry({ kind: 'thing', key: 'k', record: { pem: 'a\nb' } });
    expect(line.indexOf(0x0a)).toBe(line.length - 1);
  });
});

describe('readEntries', () => {
  const content = Buffer.concat([encodeEntry(thing), encodeEntry(deleted)]);

  it('reads back what encodeEntry wrote, with the length of each line', () => {
    const read = readEntries(content, FILE, KINDS, 'must be whole');
    expect(read.entries).toEqual([
      { ...thing, bytes: encodeEntry(thing).length },
      { ...deleted, bytes: encodeEntry(deleted).length },
    ]);
    expect(read.wholeLength).toBe(content.length);
  });

  it('counts bytes, not characters, for records that are not ASCII', () => {
    const named = { kind: 'thing', key: 'Zähler-€', record: { name: 'Zähler-€' } };
    const read = readEntries(encodeEntry(named), FILE, KINDS, 'must be whole');
    expect(read.entries[0]?.bytes).toBe(Buffer.byteLength(`${JSON.stringify({ ...named })}\n`));
  });

  it.each([
    ['no newline', Buffer.from('{"kind":"thing","key":"SN:0002","rec')],
    ['a whole record without its newline', encodeEntry(thing).subarray(0, -1)],
    ['a newline but not JSON', Buffer.from('\u0000\u0000\n')],
  ])('leaves out a torn last line with %s where the last line may be torn', (_case, torn) => {
    const read = readEntries(Buffer.concat([content, torn]), FILE, KINDS, 'may be torn');
    expect(read.entries).toHaveLength(2);
    expect(read.wholeLength).toBe(content.length);
  });

  it('refuses a last line without its newline where every line must be whole', () => {
    const torn = Buffer.concat([content, encodeEntry(thing).subarray(0, -1)]);
    expect(() => readEntries(torn, FILE, KINDS, 'must be whole')).toThrow(
      new RegistryFileError(FILE, 3, 'the line has no end (the file was cut short)'),
    );
  });

  it('refuses a damaged line before the last, naming the file and the line', () => {
    const damaged = Buffer.concat([encodeEntry(thing), Buffer.from('{"kind":\n'), encodeEntry(deleted)]);
    let error: unknown;
    try {
      readEntries(damaged, FILE, KINDS, 'may be torn');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RegistryFileError);
    expect(error).toMatchObject({ file: FILE, line: 2 });
    expect((error as Error).message).toMatch(
      /^The local CA's registry file \/data\/registry\/journal.jsonl is damaged at line 2: not valid JSON\./,
    );
  });

  it.each([
    ['an array', '[]', 'not a JSON object'],
    ['another kind', '{"kind":"policy","key":"p","record":{}}', '"kind" is none of certificate, thing'],
    ['an empty key', '{"kind":"thing","key":"","record":{}}', '"key" is not a non-empty string'],
    ['a record that is a string', '{"kind":"thing","key":"t","record":"x"}', '"record" is neither an object nor null'],
  ])('refuses %s', (_case, line, reason) => {
    expect(() => readEntries(Buffer.from(`${line}\n`), FILE, KINDS, 'must be whole')).toThrow(reason);
  });
});
