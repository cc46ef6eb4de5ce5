import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsTelemetry } from '../../../../../resolvers/adapters/telemetry/powertools-telemetry.ts';
import { REDACTED } from '../../../../../resolvers/adapters/telemetry/redact-secrets.ts';

/** Every line Powertools writes, to stdout or stderr, parsed as JSON where it is JSON. */
let lines: Record<string, unknown>[];

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { notJson: line };
  }
}

beforeEach(() => {
  lines = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    // Console swallows what a stream throws, so parsing must not throw or a line would vanish unseen.
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(parseLine(line));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});

afterEach(() => {
  vi.restoreAllMocks();
});

interface EmfBlob {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  [key: string]: unknown;
}

function emfBlobs(): EmfBlob[] {
  return lines.filter((line) => '_aws' in line) as EmfBlob[];
}

/** Powertools writes one count as `1` and repeated counts as `[1, 1]`; absent means none. */
function total(value: unknown): number {
  if (value === undefined) return 0;
  return [value].flat().reduce((sum: number, item) => sum + Number(item), 0);
}

describe('PowertoolsTelemetry', () => {
  describe('log', () => {
    it.each(['info', 'warn', 'error'] as const)('writes a %s as one JSON line with the message and fields', (level) => {
      new PowertoolsTelemetry().log(level, 'certificate issued', { serialNumber: 'sensor-0001', attempt: 2 });

      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: level.toUpperCase(),
        message: 'certificate issued',
        service: 'cvm',
        serialNumber: 'sensor-0001',
        attempt: 2,
      });
    });

    it('redacts secret fields before they are written', () => {
      new PowertoolsTelemetry().log('info', 'enrolling', {
        serialNumber: 'sensor-0001',
        registrationToken: 'tok_secret',
        csr: '-----BEGIN CERTIFICATE REQUEST-----',
        request: { privateKey: '-----BEGIN PRIVATE KEY-----', thingName: 'sensor-0001' },
      });

      const written = JSON.stringify(lines);
      expect(written).not.toMatch(/tok_secret|BEGIN CERTIFICATE REQUEST|BEGIN PRIVATE KEY/);
      expect(lines[0]).toMatchObject({
        serialNumber: 'sensor-0001',
        registrationToken: REDACTED,
        csr: REDACTED,
        request: { privateKey: REDACTED, thingName: 'sensor-0001' },
      });
    });

    it('leaves debug lines out at the default level and writes them when asked', () => {
      new PowertoolsTelemetry({ logLevel: 'INFO' }).log('debug', 'quiet');
      new PowertoolsTelemetry({ logLevel: 'DEBUG' }).log('debug', 'loud');

      expect(lines.map((line) => line.message)).toEqual(['loud']);
    });
  });

  describe('count and flush', () => {
    it('writes nothing until flushed, then one EMF blob with the metric and its dimension', () => {
      const telemetry = new PowertoolsTelemetry();

      telemetry.count('RequestFailed', { errorType: 'InvalidCsr' });
      expect(emfBlobs()).toHaveLength(0);
      telemetry.flush();

      const [blob, ...others] = emfBlobs();
      expect(others).toHaveLength(0);
      expect(blob?._aws.CloudWatchMetrics).toEqual([
        {
          Namespace: 'cvm',
          Dimensions: [['service', 'errorType']],
          Metrics: [{ Name: 'RequestFailed', Unit: 'Count' }],
        },
      ]);
      expect(blob).toMatchObject({ service: 'cvm', errorType: 'InvalidCsr', RequestFailed: 1 });
    });

    it('keeps each dimension value with its own counts', () => {
      const telemetry = new PowertoolsTelemetry();

      telemetry.count('RequestFailed', { errorType: 'InvalidCsr' });
      telemetry.count('RequestFailed', { errorType: 'Throttled' });
      telemetry.count('RequestFailed', { errorType: 'InvalidCsr' });
      telemetry.count('CertificateIssued');
      telemetry.flush();

      const counts = emfBlobs().map((blob) => ({
        errorType: blob.errorType,
        failed: total(blob.RequestFailed),
        issued: total(blob.CertificateIssued),
      }));
      expect(counts).toHaveLength(3);
      expect(counts).toEqual(
        expect.arrayContaining([
          { errorType: 'InvalidCsr', failed: 2, issued: 0 },
          { errorType: 'Throttled', failed: 1, issued: 0 },
          { errorType: undefined, failed: 0, issued: 1 },
        ]),
      );
    });

    it('writes nothing, not even a warning, when nothing was counted since the last flush', () => {
      const telemetry = new PowertoolsTelemetry();
      telemetry.count('Throttled');
      telemetry.flush();
      lines.length = 0;

      telemetry.flush();

      expect(lines).toEqual([]);
    });
  });
});
