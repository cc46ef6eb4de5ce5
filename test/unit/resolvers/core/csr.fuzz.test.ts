/**
 * Property: whatever text arrives as a CSR, inspectCsr answers with an inspection or a typed refusal
 * (InvalidCsr, CsrSubjectMismatch), never an untyped exception that would become InternalError.
 * Three sources of input: random bytes (and random text), mutations of valid CSRs, and valid CSRs in random
 * PEM framing. `npm test` runs a fixed-seed sample; `npm run fuzz` runs the big budget.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCsr } from '../../../../resolvers/core/csr.ts';
import { isCvmError } from '../../../../resolvers/core/errors.ts';
import {
  craftCsr,
  craftRequestInfo,
  OID,
  signRequestInfo,
  subjectOf,
  TAG,
  tlv,
  utf8,
} from '../../../support/crafted-csr.ts';
import { makeCsr } from '../../../support/csr.ts';
import { AnswerTally, FUZZ_SEED, FUZZ_TIMEOUT_MS, runs } from '../../../support/fuzz.ts';

const SERIAL = 'SN-FUZZ-1';
const CSR_REFUSALS = new Set(['InvalidCsr', 'CsrSubjectMismatch']);

/** Valid CSRs of every accepted kind, as DER: the seeds that mutations start from. */
let seeds: Uint8Array[] = [];

function derOf(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

function base64Lines(der: Uint8Array, width: number): string[] {
  const text = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let at = 0; at < text.length; at += width) lines.push(text.slice(at, at + width));
  return lines;
}

const plainPem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${base64Lines(der, 64).join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;

beforeAll(async () => {
  const made = await Promise.all(
    (['ec-p256', 'ec-p384', 'ec-p521', 'rsa-2048'] as const).map((keyType) =>
      makeCsr({ commonName: SERIAL, keyType, extraSubject: 'O=Acme, C=DE' }),
    ),
  );
  seeds = [
    ...made.map(({ csrPem }) => derOf(csrPem)),
    derOf(craftCsr({ commonName: SERIAL })),
    derOf(craftCsr({ keyType: 'rsa', commonName: SERIAL })),
    // A challenge password attribute, so mutations reach the attribute values too.
    derOf(signRequestInfo(requestInfoSeed('ec'), 'ec')),
  ];
});

const tallies: AnswerTally[] = [];
afterAll(() => {
  for (const tally of tallies) console.log(tally.summary());
});

/** Run `property` over `arbitrary`, tallying every answer; fail listing the first untyped ones. */
async function fuzzInspector(name: string, arbitrary: fc.Arbitrary<string>, numRuns: number): Promise<void> {
  const tally = new AnswerTally(name);
  tallies.push(tally);
  await fc.assert(
    fc.asyncProperty(arbitrary, async (pem) => {
      const answer = await inspectCsr(pem, SERIAL).then(
        () => 'inspected',
        (error: unknown) => error,
      );
      const typed = answer === 'inspected' || (isCvmError(answer) && CSR_REFUSALS.has(answer.errorType));
      tally.record(pem, answer, typed, isCvmError(answer) ? answer.errorType : typed ? 'inspected' : 'untyped');
    }),
    { numRuns, seed: FUZZ_SEED },
  );
  expect(tally.untyped).toEqual([]);
}

/** A request info with a subject of several attributes and a challenge password, for `keyType`'s key. */
function requestInfoSeed(keyType: 'ec' | 'rsa'): Uint8Array {
  return craftRequestInfo({
    keyType,
    subject: subjectOf(
      [OID.commonName, utf8(SERIAL)],
      [OID.organization, tlv(TAG.printableString, Buffer.from('Acme'))],
    ),
    attributes: [tlv(TAG.sequence, OID.challengePassword, tlv(TAG.set, utf8('secret')))],
  });
}

/** One of `values`, the first (the well-formed choice) half the time, so that many framings are valid. */
function likely(first: string, ...others: string[]): fc.Arbitrary<string> {
  return fc.oneof(fc.constant(first), fc.constantFrom(first, ...others));
}

/** One edit of a DER byte string: overwrite, insert, delete a range, or cut the tail. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(der: Uint8Array, change: Edit): Uint8Array {
  const bytes = Buffer.from(der);
  const at = bytes.length === 0 ? 0 : change.at % bytes.length;
  switch (change.kind) {
    case 'set':
      bytes[at] = change.byte;
      return new Uint8Array(bytes);
    case 'insert':
      return new Uint8Array(Buffer.concat([bytes.subarray(0, at), change.bytes, bytes.subarray(at)]));
    case 'delete':
      return new Uint8Array(Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.length)]));
    case 'truncate':
      return new Uint8Array(bytes.subarray(0, at));
  }
}

describe('inspectCsr fuzz', () => {
  it(
    'answers random bytes and random text with a typed refusal',
    () =>
      fuzzInspector(
        'inspectCsr random input',
        fc.oneof(
          fc.uint8Array({ maxLength: 700 }).map(plainPem),
          fc.string({ maxLength: 300 }),
          fc
            .string({ unit: 'binary', maxLength: 300 })
            .map((text) => `-----BEGIN CERTIFICATE REQUEST-----\n${text}\n-----END CERTIFICATE REQUEST-----\n`),
        ),
        runs(80, 25_000),
      ),
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers mutated valid CSRs with an inspection or a typed refusal',
    () =>
      fuzzInspector(
        'inspectCsr mutated CSRs',
        fc
          .record({ seed: fc.nat(), edits: fc.array(edit, { minLength: 1, maxLength: 4 }) })
          .map(({ seed, edits }) => plainPem(edits.reduce(applyEdit, seeds[seed % seeds.length] ?? new Uint8Array()))),
        runs(100, 35_000),
      ),
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers mutated request infos, signed again so the signature holds, with an inspection or a typed refusal',
    () =>
      fuzzInspector(
        'inspectCsr re-signed mutations',
        fc
          .record({
            keyType: fc.constantFrom('ec' as const, 'rsa' as const),
            edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
          })
          .map(({ keyType, edits }) => signRequestInfo(edits.reduce(applyEdit, requestInfoSeed(keyType)), keyType)),
        runs(40, 10_000),
      ),
    FUZZ_TIMEOUT_MS,
  );

  it(
    'answers valid CSRs in random PEM framing with an inspection or a typed refusal',
    () =>
      fuzzInspector(
        'inspectCsr PEM framing',
        fc
          .record({
            seed: fc.nat(),
            width: fc.integer({ min: 1, max: 200 }),
            newline: likely('\n', '\r\n', '\r', '', ' ', '\n\n'),
            before: likely('', ' ', '\n', '\t\r\n', 'garbage\n', '-----BEGIN CERTIFICATE REQUEST-----\n'),
            after: likely('', '\n', '\r\n', '  \n', 'trailing', '\n-----END CERTIFICATE REQUEST-----\n'),
            label: likely('CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST', 'certificate request', 'CERTIFICATE', ''),
            noise: fc.array(
              fc.record({ at: fc.nat(), text: fc.constantFrom('=', ' ', '\t', '\n', '-', '*', '\u00a0', '\u0000') }),
              { maxLength: 2 },
            ),
          })
          .map(({ seed, width, newline, before, after, label, noise }) => {
            const body = base64Lines(seeds[seed % seeds.length] ?? new Uint8Array(), width).join(newline);
            let pem = `${before}-----BEGIN ${label}-----${newline}${body}${newline}-----END ${label}-----${after}`;
            for (const { at, text } of noise) {
              const position = at % (pem.length + 1);
              pem = pem.slice(0, position) + text + pem.slice(position);
            }
            return pem;
          }),
        runs(60, 20_000),
      ),
    FUZZ_TIMEOUT_MS,
  );
});
