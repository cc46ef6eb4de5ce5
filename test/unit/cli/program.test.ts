import { describe, expect, it } from 'vitest';
import { describeError } from '../../../cli/errors.ts';
import { GraphqlError, NetworkError } from '../../../client/errors.ts';
import type { StartLocalStack } from '../../../cli/context.ts';
import { cvm } from './support/run-cli.ts';

const ENROLL = ['device', 'enroll', '--serial', 'SN-1', '--out', 'never-written'];
const neverStarts: StartLocalStack = () => Promise.reject(new Error('the stack must not start in this test'));

describe('cvm command line', () => {
  it.each([
    ['no command', [], {}],
    ['an unknown command', ['enrol'], {}],
    ['a command group without its subcommand', ['admin'], {}],
    ['enroll without --serial', ['device', 'enroll', '--token', 't', '--out', 'd', '--local'], {}],
    ['enroll without --out', ['device', 'enroll', '--serial', 'S', '--token', 't', '--local'], {}],
    ['enroll without a token', [...ENROLL, '--local'], {}],
    ['enroll with an unknown key type', [...ENROLL, '--token', 't', '--local', '--key-type', 'dsa'], {}],
    ['enroll with neither --local nor --endpoint', [...ENROLL, '--token', 't'], {}],
    ['enroll with both --local and --endpoint', [...ENROLL, '--token', 't', '--local', '--endpoint', 'https://x'], {}],
    [
      'enroll with --data-dir and --endpoint',
      [...ENROLL, '--token', 't', '--data-dir', 'd', '--endpoint', 'https://x'],
      {},
    ],
    [
      'enroll with an http endpoint',
      [...ENROLL, '--token', 't', '--endpoint', 'http://x/graphql', '--api-key', 'k'],
      {},
    ],
    ['enroll with an endpoint but no API key', [...ENROLL, '--token', 't', '--endpoint', 'https://x/graphql'], {}],
    ['register without a serial', ['admin', 'register', '--local'], {}],
    ['register with a token TTL of 0', ['admin', 'register', 'SN', '--local', '--token-ttl', '0'], {}],
    ['register with a fractional token TTL', ['admin', 'register', 'SN', '--local', '--token-ttl', '1.5'], {}],
    ['register with attributes that are not JSON', ['admin', 'register', 'SN', '--local', '--attributes', '{'], {}],
    ['register with non-string attributes', ['admin', 'register', 'SN', '--local', '--attributes', '{"a":1}'], {}],
    ['register with an attribute array', ['admin', 'register', 'SN', '--local', '--attributes', '["a"]'], {}],
    ['revoke without --reason', ['admin', 'revoke', 'SN', '--local'], {}],
    ['import without --out', ['admin', 'import', 'devices.csv', '--local'], {}],
    ['list with an unknown status', ['admin', 'list', '--local', '--status', 'GONE'], {}],
    [
      'list at an endpoint whose region is unknown',
      ['admin', 'list', '--endpoint', 'https://api.example.com/graphql'],
      {},
    ],
    ['local start with a port out of range', ['local', 'start', '--port', '70000'], {}],
    ['local start with a bad CVM_PORT', ['local', 'start'], { CVM_PORT: 'four thousand' }],
    ['local start with a bad CVM_MQTT_PORT', ['local', 'start'], { CVM_MQTT_PORT: '88830' }],
    ['device connect without --dir', ['device', 'connect', '--local'], {}],
    ['device connect with --publish but no --message', ['device', 'connect', '--dir', 'd', '--publish', 't'], {}],
    ['device connect with a port out of range', ['device', 'connect', '--dir', 'd', '--port', '0'], {}],
    ['smoke with both --local and --endpoint', ['smoke', '--local', '--endpoint', 'https://x.example/graphql'], {}],
  ])('exits 2 for %s', async (_name, argv, env) => {
    const run = await cvm(argv, { env, startLocalStack: neverStarts });

    expect(run.code).toBe(2);
    expect(run.stderr).not.toBe('');
    expect(run.stdout).toBe('');
  });

  it('names the fix when neither --local nor --endpoint is given', async () => {
    const run = await cvm([...ENROLL, '--token', 't']);

    expect(run.stderr).toContain('cvm: Say which API to use: --local for the local stack, or --endpoint URL.');
  });

  it.each([['--help'], ['--version'], ['admin', 'import', '--help'], ['help', 'device', 'enroll']])(
    'exits 0 for %s',
    async (...argv) => {
      const run = await cvm(argv);

      expect(run.code).toBe(0);
      expect(run.stdout).not.toBe('');
    },
  );

  it('exits 1 with a hint when the local stack has not been started', async () => {
    const run = await cvm(['admin', 'list', '--data-dir', '/nonexistent/cvm-data']);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^cvm: No local stack configuration at \/nonexistent\/cvm-data\/local\.json/);
  });
});

describe('describeError', () => {
  it.each([
    [
      new GraphqlError([{ errorType: 'DeviceNotFound', message: 'No such device.', path: [] }]),
      'cvm: DeviceNotFound: No such device.',
    ],
    [
      new NetworkError('No answer from https://x: socket hang up', { cause: null }),
      'cvm: NetworkError: No answer from https://x: socket hang up',
    ],
    [new TypeError('Bad.'), 'cvm: TypeError: Bad.'],
    [new Error('Plain.'), 'cvm: Plain.'],
    ['a string', 'cvm: a string'],
  ])('formats %s', (error, line) => {
    expect(describeError(error)).toBe(line);
  });
});
