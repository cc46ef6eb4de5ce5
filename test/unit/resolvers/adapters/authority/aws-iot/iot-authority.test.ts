import { webcrypto } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CertificateStateException,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteConflictException,
  DescribeCertificateCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  InternalFailureException,
  InvalidRequestException,
  IoTClient,
  LimitExceededException,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
  UpdateCertificateCommand,
  UpdateThingCommand,
} from '@aws-sdk/client-iot';
import { X509Certificate, X509CertificateGenerator } from '@peculiar/x509';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CertificateRevokedError,
  CsrRejectedError,
  ResourceNotFoundError,
  ThrottledError,
} from '../../../../../../resolvers/core/errors.ts';
import type { CertificateAuthority, CertificateStatus } from '../../../../../../resolvers/core/ports.ts';
import {
  amazonRootCa1Pem,
  findAmazonRootCa1,
} from '../../../../../../resolvers/adapters/authority/aws-iot/amazon-root-ca.ts';
import {
  AwsIotAuthority,
  createIotClient,
} from '../../../../../../resolvers/adapters/authority/aws-iot/iot-authority.ts';

const POLICY_NAME = 'cvm-device-policy';
const THING_NAME = 'sensor-0001';
const CERTIFICATE_ID = 'a'.repeat(64);
const CERTIFICATE_ARN = `arn:aws:iot:eu-west-1:123456789012:cert/${CERTIFICATE_ID}`;
const CSR_PEM = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';
const ENDPOINT = 'abc123-ats.iot.eu-west-1.amazonaws.com';

const iot = mockClient(IoTClient);

function authority(): AwsIotAuthority {
  return new AwsIotAuthority({ client: new IoTClient({ region: 'eu-west-1' }), policyName: POLICY_NAME });
}

const notFound = () => new ResourceNotFoundException({ message: 'not found', $metadata: {} });

beforeEach(() => {
  iot.reset();
});

afterEach(() => {
  // No method may ever let AWS IoT generate the private key.
  expect(iot.commandCalls(CreateKeysAndCertificateCommand)).toHaveLength(0);
});

describe('createIotClient', () => {
  it('allows the SDK a single retry, leaving backoff to the core', async () => {
    const client = createIotClient({ region: 'eu-west-1' });
    expect(await client.config.maxAttempts()).toBe(2);
    expect(await client.config.region()).toBe('eu-west-1');
  });
});

describe('AwsIotAuthority', () => {
  describe('createCertificate', () => {
    it('signs the CSR as an inactive certificate and returns its id, ARN and PEM', async () => {
      iot.on(CreateCertificateFromCsrCommand).resolves({
        certificateId: CERTIFICATE_ID,
        certificateArn: CERTIFICATE_ARN,
        certificatePem: 'issued-pem',
      });

      const created = await authority().createCertificate(CSR_PEM);

      expect(created).toEqual({
        certificateId: CERTIFICATE_ID,
        certificateArn: CERTIFICATE_ARN,
        certificatePem: 'issued-pem',
      });
      const calls = iot.commandCalls(CreateCertificateFromCsrCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args[0].input).toStrictEqual({ certificateSigningRequest: CSR_PEM, setAsActive: false });
    });

    it('fails when AWS IoT answers without the certificate', async () => {
      iot.on(CreateCertificateFromCsrCommand).resolves({ certificateId: CERTIFICATE_ID });

      await expect(authority().createCertificate(CSR_PEM)).rejects.toThrow(/without a certificate/);
    });
  });

  describe('ensureThing', () => {
    const attributes = { model: 'x1', site: 'lyon' };

    it('creates the thing with the registered attributes', async () => {
      iot.on(CreateThingCommand).resolves({ thingName: THING_NAME });

      await authority().ensureThing(THING_NAME, attributes);

      expect(iot.commandCalls(CreateThingCommand)[0]?.args[0].input).toStrictEqual({
        thingName: THING_NAME,
        attributePayload: { attributes },
      });
      expect(iot.commandCalls(UpdateThingCommand)).toHaveLength(0);
    });

    it('replaces the attributes when the thing already exists with different ones', async () => {
      iot
        .on(CreateThingCommand)
        .rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {}, resourceId: THING_NAME }));
      iot.on(UpdateThingCommand).resolves({});

      await authority().ensureThing(THING_NAME, attributes);

      expect(iot.commandCalls(UpdateThingCommand)[0]?.args[0].input).toStrictEqual({
        thingName: THING_NAME,
        attributePayload: { attributes, merge: false },
      });
    });

    it('propagates any other CreateThing failure without updating', async () => {
      const invalid = new InvalidRequestException({ message: 'bad name', $metadata: {} });
      iot.on(CreateThingCommand).rejects(invalid);

      await expect(authority().ensureThing(THING_NAME, attributes)).rejects.toBe(invalid);
      expect(iot.commandCalls(UpdateThingCommand)).toHaveLength(0);
    });
  });

  describe('attachPolicy', () => {
    it('attaches the device policy to the certificate', async () => {
      iot.on(AttachPolicyCommand).resolves({});

      await authority().attachPolicy(CERTIFICATE_ARN);

      expect(iot.commandCalls(AttachPolicyCommand)[0]?.args[0].input).toStrictEqual({
        policyName: POLICY_NAME,
        target: CERTIFICATE_ARN,
      });
    });
  });

  describe.each([
    {
      method: 'attachPolicy',
      attach: (ca: CertificateAuthority) => ca.attachPolicy(CERTIFICATE_ARN),
    },
    {
      method: 'attachThingPrincipal',
      attach: (ca: CertificateAuthority) => ca.attachThingPrincipal(THING_NAME, CERTIFICATE_ARN),
    },
  ])('$method', ({ attach }) => {
    it('throws ResourceNotFoundError when AWS IoT does not know what it attaches', async () => {
      const missing = notFound();
      iot.onAnyCommand().rejects(missing);

      const failure = attach(authority());

      await expect(failure).rejects.toBeInstanceOf(ResourceNotFoundError);
      await expect(failure).rejects.toMatchObject({ cause: missing });
    });
  });

  describe('attachThingPrincipal', () => {
    it('attaches the certificate to the thing, exclusively', async () => {
      iot.on(AttachThingPrincipalCommand).resolves({});

      await authority().attachThingPrincipal(THING_NAME, CERTIFICATE_ARN);

      expect(iot.commandCalls(AttachThingPrincipalCommand)[0]?.args[0].input).toStrictEqual({
        thingName: THING_NAME,
        principal: CERTIFICATE_ARN,
        thingPrincipalType: 'EXCLUSIVE_THING',
      });
    });
  });

  describe('setCertificateStatus', () => {
    it.each<CertificateStatus>(['ACTIVE', 'INACTIVE', 'REVOKED'])('sets the certificate %s', async (status) => {
      iot.on(UpdateCertificateCommand).resolves({});

      await authority().setCertificateStatus(CERTIFICATE_ID, status);

      expect(iot.commandCalls(UpdateCertificateCommand)[0]?.args[0].input).toStrictEqual({
        certificateId: CERTIFICATE_ID,
        newStatus: status,
      });
    });

    it.each<CertificateStatus>(['INACTIVE', 'REVOKED'])(
      'succeeds setting %s on a certificate that does not exist (nothing to disable)',
      async (status) => {
        iot.on(UpdateCertificateCommand).rejects(notFound());

        await expect(authority().setCertificateStatus(CERTIFICATE_ID, status)).resolves.toBeUndefined();
      },
    );

    it('throws ResourceNotFoundError when activating a certificate that does not exist', async () => {
      const missing = notFound();
      iot.on(UpdateCertificateCommand).rejects(missing);

      const failure = authority().setCertificateStatus(CERTIFICATE_ID, 'ACTIVE');

      await expect(failure).rejects.toBeInstanceOf(ResourceNotFoundError);
      await expect(failure).rejects.toMatchObject({ cause: missing });
    });

    const refusals = [
      ['CertificateStateException', () => new CertificateStateException({ message: 'revoked', $metadata: {} })],
      ['InvalidRequestException', () => new InvalidRequestException({ message: 'revoked', $metadata: {} })],
    ] as const;
    const disablingStatuses = ['INACTIVE', 'REVOKED'] as const;
    const refusalCases = refusals.flatMap(([name, refusal]) =>
      disablingStatuses.map((status) => ({ name, refusal, status })),
    );

    it.each(refusalCases)(
      'succeeds setting $status when AWS IoT refuses with $name and the certificate is already REVOKED',
      async ({ refusal, status }) => {
        iot.on(UpdateCertificateCommand).rejects(refusal());
        iot
          .on(DescribeCertificateCommand, { certificateId: CERTIFICATE_ID })
          .resolves({ certificateDescription: { certificateId: CERTIFICATE_ID, status: 'REVOKED' } });

        await expect(authority().setCertificateStatus(CERTIFICATE_ID, status)).resolves.toBeUndefined();
      },
    );

    it.each(refusalCases)(
      'propagates $name when setting $status on a certificate that is not revoked',
      async ({ refusal, status }) => {
        const refused = refusal();
        iot.on(UpdateCertificateCommand).rejects(refused);
        iot
          .on(DescribeCertificateCommand)
          .resolves({ certificateDescription: { certificateId: CERTIFICATE_ID, status: 'PENDING_TRANSFER' } });

        await expect(authority().setCertificateStatus(CERTIFICATE_ID, status)).rejects.toBe(refused);
      },
    );

    it('succeeds when the refused certificate disappeared before it could be described', async () => {
      iot.on(UpdateCertificateCommand).rejects(new CertificateStateException({ message: 'revoked', $metadata: {} }));
      iot.on(DescribeCertificateCommand).rejects(notFound());

      await expect(authority().setCertificateStatus(CERTIFICATE_ID, 'REVOKED')).resolves.toBeUndefined();
    });

    it('reports a refusal to activate a revoked certificate as CertificateRevokedError, as the local CA does', async () => {
      const refused = new CertificateStateException({ message: 'revoked', $metadata: {} });
      iot.on(UpdateCertificateCommand).rejects(refused);
      iot.on(DescribeCertificateCommand).resolves({ certificateDescription: { status: 'REVOKED' } });

      await expect(authority().setCertificateStatus(CERTIFICATE_ID, 'ACTIVE')).rejects.toBeInstanceOf(
        CertificateRevokedError,
      );
    });
  });

  describe('undoing', () => {
    const undoCases = [
      {
        method: 'detachPolicy',
        command: DetachPolicyCommand,
        undo: (ca: CertificateAuthority) => ca.detachPolicy(CERTIFICATE_ARN),
        input: { policyName: POLICY_NAME, target: CERTIFICATE_ARN },
      },
      {
        method: 'detachThingPrincipal',
        command: DetachThingPrincipalCommand,
        undo: (ca: CertificateAuthority) => ca.detachThingPrincipal(THING_NAME, CERTIFICATE_ARN),
        input: { thingName: THING_NAME, principal: CERTIFICATE_ARN },
      },
      {
        method: 'deleteCertificate',
        command: DeleteCertificateCommand,
        undo: (ca: CertificateAuthority) => ca.deleteCertificate(CERTIFICATE_ID),
        input: { certificateId: CERTIFICATE_ID },
      },
    ] as const;

    it.each(undoCases)('$method sends exactly $input', async ({ command, undo, input }) => {
      iot.onAnyCommand().resolves({});

      await undo(authority());

      const sent = iot.calls().map((call) => call.args[0]);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toBeInstanceOf(command);
      expect(sent[0]?.input).toStrictEqual(input);
    });

    it.each(undoCases)('$method succeeds when there is nothing left to undo', async ({ undo }) => {
      iot.onAnyCommand().rejects(notFound());

      await expect(undo(authority())).resolves.toBeUndefined();
    });

    it('deleteCertificate reports a conflict (still attached: detaching propagates slowly) as retryable, never forcing', async () => {
      const conflict = new DeleteConflictException({ message: 'attached', $metadata: {} });
      iot.on(DeleteCertificateCommand).rejects(conflict);

      const error = await authority()
        .deleteCertificate(CERTIFICATE_ID)
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ThrottledError);
      expect((error as ThrottledError).cause).toBe(conflict);
      expect(iot.commandCalls(DeleteCertificateCommand)[0]?.args[0].input).toEqual({ certificateId: CERTIFICATE_ID });
    });

    it('reports AWS IoT refusing the CSR as CsrRejectedError', async () => {
      const refusal = new InvalidRequestException({
        message: 'The certificate signing request is invalid',
        $metadata: {},
      });
      iot.on(CreateCertificateFromCsrCommand).rejects(refusal);

      const error = await authority()
        .createCertificate('CSR')
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(CsrRejectedError);
      expect((error as Error).message).toBe('AWS IoT refused the CSR: The certificate signing request is invalid');
    });

    it('sends CreateCertificateFromCsr through the non-retrying client when one is given', async () => {
      const single = new IoTClient({ region: 'eu-west-1', maxAttempts: 1 });
      iot.on(CreateCertificateFromCsrCommand).resolves({
        certificateId: CERTIFICATE_ID,
        certificateArn: CERTIFICATE_ARN,
        certificatePem: 'PEM',
      });
      const sent: unknown[] = [];
      const original = single.send.bind(single);
      single.send = ((command: unknown, ...rest: unknown[]) => {
        sent.push(command);
        return (original as (...args: unknown[]) => unknown)(command, ...rest);
      }) as typeof single.send;

      await new AwsIotAuthority({
        client: new IoTClient({ region: 'eu-west-1' }),
        createCertificateClient: single,
        policyName: 'p',
      }).createCertificate('CSR');

      expect(sent).toHaveLength(1);
      expect(sent[0]).toBeInstanceOf(CreateCertificateFromCsrCommand);
    });
  });

  describe('connectionInfo', () => {
    it('asks for the ATS data endpoint and pairs it with Amazon Root CA 1', async () => {
      iot.on(DescribeEndpointCommand).resolves({ endpointAddress: ENDPOINT });

      const info = await authority().connectionInfo();

      expect(info).toEqual({ caCertificatePem: amazonRootCa1Pem(), iotEndpoint: ENDPOINT });
      expect(iot.commandCalls(DescribeEndpointCommand)[0]?.args[0].input).toStrictEqual({
        endpointType: 'iot:Data-ATS',
      });
    });

    it('describes the endpoint once across sequential and concurrent calls', async () => {
      iot.on(DescribeEndpointCommand).resolves({ endpointAddress: ENDPOINT });
      const ca = authority();

      const concurrent = await Promise.all([ca.connectionInfo(), ca.connectionInfo()]);
      const later = await ca.connectionInfo();

      expect([...concurrent, later].map((info) => info.iotEndpoint)).toEqual([ENDPOINT, ENDPOINT, ENDPOINT]);
      expect(iot.commandCalls(DescribeEndpointCommand)).toHaveLength(1);
    });

    it('does not cache a failed first call', async () => {
      const failure = new InternalFailureException({ message: 'boom', $metadata: {} });
      iot.on(DescribeEndpointCommand).rejectsOnce(failure).resolves({ endpointAddress: ENDPOINT });
      const ca = authority();

      await expect(ca.connectionInfo()).rejects.toBe(failure);
      await expect(ca.connectionInfo()).resolves.toMatchObject({ iotEndpoint: ENDPOINT });
      expect(iot.commandCalls(DescribeEndpointCommand)).toHaveLength(2);
    });

    it('fails, uncached, when AWS IoT answers without an address', async () => {
      iot.on(DescribeEndpointCommand).resolvesOnce({}).resolves({ endpointAddress: ENDPOINT });
      const ca = authority();

      await expect(ca.connectionInfo()).rejects.toThrow(/without an endpoint address/);
      await expect(ca.connectionInfo()).resolves.toMatchObject({ iotEndpoint: ENDPOINT });
    });
  });

  describe('errors', () => {
    const operations = [
      { method: 'createCertificate', call: (ca: CertificateAuthority) => ca.createCertificate(CSR_PEM) },
      { method: 'ensureThing', call: (ca: CertificateAuthority) => ca.ensureThing(THING_NAME, {}) },
      { method: 'attachPolicy', call: (ca: CertificateAuthority) => ca.attachPolicy(CERTIFICATE_ARN) },
      {
        method: 'attachThingPrincipal',
        call: (ca: CertificateAuthority) => ca.attachThingPrincipal(THING_NAME, CERTIFICATE_ARN),
      },
      {
        method: 'setCertificateStatus',
        call: (ca: CertificateAuthority) => ca.setCertificateStatus(CERTIFICATE_ID, 'REVOKED'),
      },
      { method: 'detachPolicy', call: (ca: CertificateAuthority) => ca.detachPolicy(CERTIFICATE_ARN) },
      {
        method: 'detachThingPrincipal',
        call: (ca: CertificateAuthority) => ca.detachThingPrincipal(THING_NAME, CERTIFICATE_ARN),
      },
      { method: 'deleteCertificate', call: (ca: CertificateAuthority) => ca.deleteCertificate(CERTIFICATE_ID) },
      { method: 'connectionInfo', call: (ca: CertificateAuthority) => ca.connectionInfo() },
    ] as const;
    const throttles = [
      { name: 'ThrottlingException', throttle: () => new ThrottlingException({ message: 'slow down', $metadata: {} }) },
      {
        name: 'ServiceUnavailableException',
        throttle: () => new ServiceUnavailableException({ message: 'unavailable', $metadata: {} }),
      },
    ] as const;

    it.each(operations.flatMap((operation) => throttles.map((throttle) => ({ ...operation, ...throttle }))))(
      '$method turns $name into ThrottledError',
      async ({ call, throttle }) => {
        const throttled = throttle();
        iot.onAnyCommand().rejects(throttled);

        const failure = call(authority());

        await expect(failure).rejects.toBeInstanceOf(ThrottledError);
        await expect(failure).rejects.toMatchObject({ cause: throttled });
      },
    );

    it('turns throttling of the thing update into ThrottledError', async () => {
      iot.on(CreateThingCommand).rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
      iot.on(UpdateThingCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: {} }));

      await expect(authority().ensureThing(THING_NAME, {})).rejects.toBeInstanceOf(ThrottledError);
    });

    it.each(operations)('$method propagates an unknown error unchanged', async ({ call }) => {
      const unknown = new InternalFailureException({ message: 'boom', $metadata: {} });
      iot.onAnyCommand().rejects(unknown);

      await expect(call(authority())).rejects.toBe(unknown);
    });

    it('does not treat a quota (LimitExceededException) as throttling: retrying cannot help', async () => {
      const quota = new LimitExceededException({ message: 'too many attached', $metadata: {} });
      iot.on(AttachPolicyCommand).rejects(quota);

      await expect(authority().attachPolicy(CERTIFICATE_ARN)).rejects.toBe(quota);
    });
  });
});

describe('amazonRootCa1Pem', () => {
  it('finds Amazon Root CA 1 in the root store bundled with this Node', () => {
    const root = new X509Certificate(amazonRootCa1Pem());

    expect(root.subject).toBe('C=US, O=Amazon, CN=Amazon Root CA 1');
    expect(root.subject).toBe(root.issuer);
    expect(amazonRootCa1Pem()).toMatch(/-----END CERTIFICATE-----\n$/);
  });

  it('fails clearly when the store lacks it', () => {
    const withoutAmazon = rootCertificates.filter((pem) => !new X509Certificate(pem).subject.includes('Amazon'));

    expect(() => findAmazonRootCa1(withoutAmazon)).toThrow(/Amazon Root CA 1 .* is missing/);
  });

  it('ignores a certificate that carries the common name under another organisation', async () => {
    const impostor = await selfSigned('CN=Amazon Root CA 1, O=Not Amazon, C=US');

    expect(() => findAmazonRootCa1([impostor])).toThrow(/missing/);
    expect(findAmazonRootCa1([impostor, amazonRootCa1Pem()])).toBe(amazonRootCa1Pem());
  });
});

async function selfSigned(name: string): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const certificate = await X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm: algorithm,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2040-01-01T00:00:00Z'),
  });
  return certificate.toString('pem');
}
