/**
 * A device's MQTT connection with the files `cvm device enroll` wrote: mutual TLS with its certificate and key,
 * client id = thing name, MQTT 3.1.1 or 5 (AWS IoT and the local endpoint speak both), QoS 1 so that every publish
 * and subscribe gets an answer. AWS IoT answers a publish or subscribe its policy denies by closing an MQTT 3.1.1
 * connection, and with reason code 0x87 in the PUBACK or SUBACK of an MQTT 5 one; this reports either as a
 * refusal with its reason instead of a hang.
 */
import { readFile } from 'node:fs/promises';
import mqtt, { ReasonCodes, type MqttClient } from 'mqtt';
import { enrollmentFiles, type DeviceMetadata } from './device-enroll.ts';

/** AWS IoT Core's port for MQTT over TLS with client certificates. */
export const IOT_MQTT_PORT = 8883;
const CONNECT_TIMEOUT_MS = 10_000;

export interface DeviceCredentials {
  readonly thingName: string;
  readonly serialNumber: string;
  /** From the grant; null when the authority had no endpoint to give. */
  readonly iotEndpoint: string | null;
  readonly certificatePem: string;
  readonly keyPem: string;
  /** What to trust for the endpoint (Amazon Root CA 1 in AWS, the local TLS CA locally). */
  readonly caPem: string;
}

export interface MqttTarget {
  readonly host: string;
  readonly port: number;
}

/** The MQTT versions AWS IoT Core speaks. */
export const MQTT_VERSIONS = ['3.1.1', '5'] as const;
export type MqttVersion = (typeof MQTT_VERSIONS)[number];

export interface MqttSessionOptions {
  /** Default 3.1.1. */
  readonly mqttVersion?: MqttVersion;
}

/** `Refused`: an MQTT 5 reason code other than "not authorized" (0x87), which is `NotAuthorized`. */
export type MqttErrorType = 'NotAuthorized' | 'Refused' | 'ConnectionFailed' | 'ConnectionClosed';

/** MQTT 5's "Not authorized" reason code (CONNACK, PUBACK, SUBACK, DISCONNECT). */
const NOT_AUTHORIZED = 0x87;

export class DeviceMqttError extends Error {
  override readonly name = 'DeviceMqttError';
  constructor(
    readonly errorType: MqttErrorType,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly payload: string;
}

/** Read what `cvm device enroll --out DIR` wrote. */
export async function readDeviceCredentials(dir: string): Promise<DeviceCredentials> {
  const files = enrollmentFiles(dir);
  let metadata: DeviceMetadata;
  try {
    metadata = JSON.parse(await readFile(files.metadata, 'utf8')) as DeviceMetadata;
  } catch (error) {
    throw new DeviceMqttError(
      'ConnectionFailed',
      `No enrolled device in ${dir} (${files.metadata} is missing or unreadable): run \`cvm device enroll --out ${dir}\` first.`,
      { cause: error },
    );
  }
  const [certificatePem, keyPem, caPem] = await Promise.all([
    readFile(files.certificate, 'utf8'),
    readFile(files.key, 'utf8'),
    readFile(files.ca, 'utf8'),
  ]);
  return {
    thingName: metadata.thingName,
    serialNumber: metadata.serialNumber,
    iotEndpoint: metadata.iotEndpoint,
    certificatePem,
    keyPem,
    caPem,
  };
}

/** One device connection. Open with `DeviceMqttSession.open`; always `end()` it. */
export class DeviceMqttSession {
  /** Messages received so far, oldest first. */
  readonly received: ReceivedMessage[] = [];
  private closeReason: string | undefined;
  private readonly closed: Promise<string>;
  private readonly messageWaiters = new Set<() => void>();

  private constructor(
    private readonly client: MqttClient,
    readonly mqttVersion: MqttVersion,
  ) {
    // An MQTT 5 endpoint says why it closes the connection; that is the reason to report.
    client.on('disconnect', (packet) => {
      this.closeReason ??= `the endpoint disconnected: ${describeReasonCode(packet.reasonCode ?? 0)}`;
    });
    this.closed = new Promise((resolve) => {
      client.once('close', () => {
        this.closeReason ??= 'the endpoint closed the connection';
        resolve(this.closeReason);
      });
    });
    client.on('message', (topic, payload) => {
      this.received.push({ topic, payload: payload.toString('utf8') });
      for (const wake of this.messageWaiters) wake();
    });
  }

  /** Connect as `credentials.thingName`; a refusal (TLS, or CONNACK "not authorized") throws DeviceMqttError. */
  static async open(
    credentials: DeviceCredentials,
    target: MqttTarget,
    options: MqttSessionOptions = {},
  ): Promise<DeviceMqttSession> {
    const mqttVersion = options.mqttVersion ?? '3.1.1';
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: target.host,
      port: target.port,
      servername: target.host,
      clientId: credentials.thingName,
      cert: credentials.certificatePem,
      key: credentials.keyPem,
      ca: credentials.caPem,
      rejectUnauthorized: true,
      protocolVersion: mqttVersion === '5' ? 5 : 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', (error) => reject(describeConnectError(error, target)));
        client.once('close', () =>
          reject(
            new DeviceMqttError(
              'ConnectionClosed',
              `${target.host}:${target.port} closed the connection before accepting it (a certificate it does ` +
                'not accept, or one that is not active).',
            ),
          ),
        );
      });
    } catch (error) {
      client.end(true);
      throw error;
    }
    client.removeAllListeners('error');
    // Errors after the connection was accepted show up as its close; keep them from being unhandled.
    client.on('error', () => undefined);
    return new DeviceMqttSession(client, mqttVersion);
  }

  get isClosed(): boolean {
    return this.closeReason !== undefined || !this.client.connected;
  }

  /**
   * Publish with QoS 1. Resolves when the endpoint acknowledged it; throws when it refused it (an MQTT 5 PUBACK
   * reason code) or closed the connection instead.
   */
  async publish(topic: string, message: string): Promise<void> {
    const what = `publish to ${topic}`;
    await this.untilAnswered(this.client.publishAsync(topic, message, { qos: 1 }).catch(refusal(what)), what);
  }

  /** Subscribe with QoS 1; a refusal (SUBACK failure, or the connection closed) throws. */
  async subscribe(filter: string): Promise<void> {
    const what = `subscribe to ${filter}`;
    const granted = await this.untilAnswered(this.client.subscribeAsync(filter, { qos: 1 }).catch(refusal(what)), what);
    if (granted.some((grant) => grant.qos === 128)) {
      throw new DeviceMqttError('NotAuthorized', `Subscribe to ${filter} refused by the endpoint.`);
    }
  }

  /** Resolves once a message on `topic` has arrived, or after `timeoutMs`, whichever is first. */
  async waitForMessage(topic: string, timeoutMs: number): Promise<ReceivedMessage | undefined> {
    const find = (): ReceivedMessage | undefined => this.received.find((message) => message.topic === topic);
    if (find() !== undefined) return find();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      const wake = (): void => {
        if (find() === undefined) return;
        this.messageWaiters.delete(wake);
        done();
      };
      this.messageWaiters.add(wake);
      void this.closed.then(done);
    });
    return find();
  }

  /** Resolves with the reason once the connection is closed (by either side). */
  whenClosed(): Promise<string> {
    return this.closed;
  }

  async end(): Promise<void> {
    if (this.client.disconnected || this.closeReason !== undefined) {
      this.client.end(true);
      return;
    }
    this.closeReason = 'closed by this client';
    await this.client.endAsync();
  }

  private async untilAnswered<T>(operation: Promise<T>, what: string): Promise<T> {
    const refused = this.closed.then((reason) => {
      const why = this.mqttVersion === '5' ? '' : ' (AWS IoT closes the connection when the policy denies an action)';
      throw new DeviceMqttError('NotAuthorized', `${what} refused: ${reason}${why}.`);
    });
    // Only the race below may see this rejection; a connection closed after the answer is not an error here.
    refused.catch(() => undefined);
    return Promise.race([operation, refused]);
  }
}

/** An MQTT 5 reason code as people read it: its name in the specification and its value, "not authorized (0x87)". */
export function describeReasonCode(code: number): string {
  const name = (ReasonCodes as Readonly<Record<number, string>>)[code] ?? 'unknown reason code';
  return `${name === '' ? 'success' : name.toLowerCase()} (0x${code.toString(16).toUpperCase().padStart(2, '0')})`;
}

/**
 * An MQTT 5 refusal as a DeviceMqttError; anything else as is. MQTT.js rejects a publish with the PUBACK's reason
 * code as `code`, and a subscribe with the SUBACK (`packet.granted`, a reason code per filter).
 */
function refusal(what: string): (error: unknown) => never {
  return (error) => {
    const { code, packet } = error as { code?: unknown; packet?: { granted?: unknown } };
    const granted = Array.isArray(packet?.granted) ? (packet.granted as unknown[]) : [];
    const refusedFilter = granted.find((grant): grant is number => typeof grant === 'number' && grant >= 0x80);
    const reasonCode = typeof code === 'number' ? code : refusedFilter;
    if (reasonCode === undefined) throw error;
    throw new DeviceMqttError(
      reasonCode === NOT_AUTHORIZED ? 'NotAuthorized' : 'Refused',
      `${what} refused: ${describeReasonCode(reasonCode)}.`,
      { cause: error },
    );
  };
}

function describeConnectError(error: Error & { code?: unknown }, target: MqttTarget): DeviceMqttError {
  const where = `${target.host}:${target.port}`;
  // MQTT 3.1.1 says "not authorized" with return code 5, MQTT 5 with reason code 0x87.
  if (error.code === 5 || error.code === NOT_AUTHORIZED || /not authori[sz]ed/i.test(error.message)) {
    const refusedWith = error.code === NOT_AUTHORIZED ? describeReasonCode(NOT_AUTHORIZED) : 'not authorized';
    return new DeviceMqttError(
      'NotAuthorized',
      `${where} refused the connection: ${refusedWith} (the certificate is not active, or the policy does not ` +
        'allow this client id).',
      { cause: error },
    );
  }
  if (typeof error.code === 'number' && error.code >= 0x80) {
    return new DeviceMqttError('Refused', `${where} refused the connection: ${describeReasonCode(error.code)}.`, {
      cause: error,
    });
  }
  return new DeviceMqttError('ConnectionFailed', `Could not connect to ${where}: ${error.message}`, { cause: error });
}
