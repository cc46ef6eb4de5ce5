/**
 * The local stand-in for AWS IoT Core's MQTT endpoint: MQTT 3.1.1 and MQTT 5 over mutual TLS, where a device
 * connects with the certificate cvm issued it and is held to the very device policy the CDK stack deploys.
 *
 * - TLS 1.2 or later; the client must present a certificate that chains to the local device CA (the handshake
 *   fails otherwise, as AWS IoT's does for a certificate it does not know).
 * - CONNECT is accepted only while the local CA's registry has that certificate ACTIVE and the policies attached to
 *   it allow `iot:Connect` on `client/<client id>`; otherwise CONNACK "not authorized" (0x87 in MQTT 5) and the
 *   connection closes.
 * - PUBLISH and SUBSCRIBE are evaluated per packet. An MQTT 3.1.1 client is disconnected by a denied one (AWS IoT's
 *   answer, MQTT 3.1.1 having no other); an MQTT 5 client gets reason code 0x87 in its PUBACK or SUBACK and stays
 *   connected (see `mqtt5-translation.ts`). Delivery is evaluated as `iot:Receive` per subscriber; a denied message
 *   is not delivered.
 * - A change to a certificate in the registry (revoke, reset, rotation, detach) re-checks every live connection of
 *   that certificate at once: one that could no longer connect is closed (after DISCONNECT 0x87 in MQTT 5). The
 *   registry tells the endpoint through its change listener, in-process, so there is no polling interval and no
 *   file reads while nothing changes.
 *
 * The broker is aedes 1.x, which speaks MQTT 3.1 and 3.1.1: a connection whose CONNECT says MQTT 5 is carried to it
 * through `Mqtt5Bridge`; every other connection goes to aedes untouched.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { iotResourceArn, type IotArnScope, type IotPolicyDocument } from '../../contract/device-policy.ts';
import type {
  CertificateRecord,
  CertificateRegistry,
  ThingRecord,
} from '../../resolvers/adapters/authority/local-ca/registry.ts';
import { isAllowed, type IotMqttAction, type PolicyVariables } from './iot-policy.ts';
import { Mqtt5Bridge } from './mqtt5-bridge.ts';
import { ReasonCode } from './mqtt5-translation.ts';
import { readProtocolVersion } from './read-protocol-version.ts';

export type MqttLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Readonly<Record<string, unknown>>,
) => void;

export interface MqttEndpointOptions {
  /** Key and certificate chain of the server (the local TLS material: localhost, 127.0.0.1, ::1). */
  readonly tls: { readonly keyPem: string; readonly certPem: string };
  /** The CA whose device certificates the endpoint accepts. */
  readonly deviceCaPem: string;
  /** Which certificates exist, their status, policies and things; watched for changes. */
  readonly registry: Pick<CertificateRegistry, 'getCertificate' | 'getThing' | 'onCertificateChange'>;
  /** The documents of the policies the authority attaches, by policy name. */
  readonly policies: ReadonlyMap<string, IotPolicyDocument>;
  /** Partition, region and account of the resource ARNs that requests are checked against. */
  readonly arnScope: IotArnScope;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly log?: MqttLog;
}

export interface MqttEndpoint {
  /** The port the endpoint listens on. */
  readonly port: number;
  close(): Promise<void>;
}

/** What a connection was authorized as: the certificate and the policy variables of the connection. */
interface Session {
  readonly certificateId: string;
  readonly variables: PolicyVariables;
  readonly policies: readonly IotPolicyDocument[];
}

type Verdict =
  | { readonly accepted: true; readonly session: Session }
  | { readonly accepted: false; readonly reason: string };

const NOT_AUTHORIZED = 5;
/** A verdict computed while the certificate changed is computed again; more changes than this in a row give up. */
const MAX_VERDICT_ATTEMPTS = 5;
/** How long a new connection has to send its CONNECT: aedes' own `connectTimeout`. */
const CONNECT_TIMEOUT_MS = 30_000;
const MQTT_5 = 5;

export async function startMqttEndpoint(options: MqttEndpointOptions): Promise<MqttEndpoint> {
  const log: MqttLog = options.log ?? (() => undefined);
  const sessions = new Map<Client, Session>();
  /** The MQTT 5 connections, by the client aedes knows them as (weakly: aedes forgets refused clients silently). */
  const bridges = new WeakMap<Client, Mqtt5Bridge>();
  /** The TLS connection behind each bridge's broker side (for an MQTT 3.1.1 client, aedes holds the TLS socket). */
  const deviceSockets = new WeakMap<object, TLSSocket>();
  /** Connections whose CONNECT is not read yet: not aedes clients, so closing the broker would not close them. */
  const unidentified = new Set<TLSSocket>();
  /** Counts changes per certificate, so that a verdict read across a change is known to be stale. */
  const changeCounts = new Map<string, number>();

  const arn = (resource: string): string => iotResourceArn(options.arnScope, resource);

  async function decide(certificateId: string, clientId: string): Promise<Verdict> {
    const certificate = await options.registry.getCertificate(certificateId);
    if (certificate === undefined) return { accepted: false, reason: 'the certificate is not registered' };
    if (certificate.status !== 'ACTIVE') return { accepted: false, reason: `the certificate is ${certificate.status}` };
    const thingName = attachedThingName(certificate, clientId);
    const thing = thingName === undefined ? undefined : await options.registry.getThing(thingName);
    const variables = connectionVariables(clientId, thing?.principals.includes(certificate.arn) ? thing : undefined);
    const policies = certificate.policies.flatMap((name) => {
      const document = options.policies.get(name);
      if (document === undefined) log('warn', 'mqtt: unknown policy attached', { policyName: name, certificateId });
      return document === undefined ? [] : [document];
    });
    const session: Session = { certificateId, variables, policies };
    if (!authorized(session, 'iot:Connect', arn(`client/${clientId}`))) {
      return { accepted: false, reason: `the policy does not allow iot:Connect as client id ${clientId}` };
    }
    return { accepted: true, session };
  }

  /** decide(), again if the certificate changed meanwhile: the answer holds for the registry as it is now. */
  async function currentVerdict(certificateId: string, clientId: string): Promise<Verdict> {
    for (let attempt = 1; ; attempt += 1) {
      const before = changeCounts.get(certificateId) ?? 0;
      const verdict = await decide(certificateId, clientId);
      if ((changeCounts.get(certificateId) ?? 0) === before || attempt === MAX_VERDICT_ATTEMPTS) return verdict;
    }
  }

  function authorized(session: Session, action: IotMqttAction, resource: string): boolean {
    try {
      return isAllowed(session.policies, { action, resource, variables: session.variables });
    } catch (error) {
      // A policy this evaluator cannot read denies (and says why) rather than allows.
      log('error', 'mqtt: policy not evaluated', { action, resource, error: String(error) });
      return false;
    }
  }

  const broker = await Aedes.createBroker({
    authenticate: (client, _username, _password, done) => {
      const certificateId = peerCertificateId(deviceSockets.get(client.conn) ?? (client.conn as TLSSocket));
      const refuse = (reason: string): void => {
        log('info', 'mqtt: connection refused', { clientId: client.id, certificateId, reason });
        const error = new Error(`Not authorized: ${reason}.`) as AuthenticateError;
        error.returnCode = NOT_AUTHORIZED;
        done(error, false);
      };
      if (certificateId === undefined) {
        refuse('no client certificate');
        return;
      }
      currentVerdict(certificateId, client.id).then(
        (verdict) => {
          if (!verdict.accepted) {
            refuse(verdict.reason);
            return;
          }
          // AWS IoT lets the newer connection with a client id in and disconnects the older (0x8E in MQTT 5).
          for (const other of sessions.keys()) {
            if (other !== client && other.id === client.id)
              bridges.get(other)?.setCloseReason(ReasonCode.SessionTakenOver);
          }
          sessions.set(client, verdict.session);
          log('info', 'mqtt: connected', {
            clientId: client.id,
            certificateId,
            mqttVersion: bridges.has(client) ? '5' : '3.1.1',
          });
          done(null, true);
        },
        (error: unknown) => refuse(`the registry could not be read (${String(error)})`),
      );
    },
    authorizePublish: (client, packet, done) => {
      // A null client is the broker itself (its $SYS heartbeat): never a device.
      if (client === null) return done(null);
      const session = sessions.get(client);
      if (session !== undefined && authorized(session, 'iot:Publish', arn(`topic/${packet.topic}`))) return done(null);
      log('info', 'mqtt: publish denied, disconnecting', { clientId: client.id, topic: packet.topic });
      bridges.get(client)?.setCloseReason(ReasonCode.NotAuthorized);
      done(new Error(`Not authorized to publish to ${packet.topic}.`));
    },
    authorizeSubscribe: (client, subscription, done) => {
      const session = sessions.get(client);
      if (session !== undefined && authorized(session, 'iot:Subscribe', arn(`topicfilter/${subscription.topic}`))) {
        done(null, subscription);
        return;
      }
      log('info', 'mqtt: subscribe denied, disconnecting', { clientId: client.id, topicFilter: subscription.topic });
      bridges.get(client)?.setCloseReason(ReasonCode.NotAuthorized);
      done(new Error(`Not authorized to subscribe to ${subscription.topic}.`));
    },
    authorizeForward: (client, packet) => {
      const session = sessions.get(client);
      return session !== undefined && authorized(session, 'iot:Receive', arn(`topic/${packet.topic}`)) ? packet : null;
    },
  });
  broker.on('clientDisconnect', (client) => {
    sessions.delete(client);
    log('info', 'mqtt: disconnected', { clientId: client.id });
  });
  // The session outlives the error until aedes unregisters the client: its will (published after the error, if the
  // policy allows it) is authorized with it.
  broker.on('clientError', (client, error) => {
    log('debug', 'mqtt: client closed', { clientId: client.id, reason: error.message });
  });
  broker.on('keepaliveTimeout', (client) => bridges.get(client)?.setCloseReason(ReasonCode.KeepAliveTimeout));

  const stopWatching = options.registry.onCertificateChange((certificateId) => {
    changeCounts.set(certificateId, (changeCounts.get(certificateId) ?? 0) + 1);
    for (const [client, session] of sessions) {
      if (session.certificateId !== certificateId) continue;
      void recheck(client, certificateId);
    }
  });

  async function recheck(client: Client, certificateId: string): Promise<void> {
    let verdict: Verdict;
    try {
      verdict = await currentVerdict(certificateId, client.id);
    } catch (error) {
      verdict = { accepted: false, reason: `the registry could not be read (${String(error)})` };
    }
    if (sessions.get(client)?.certificateId !== certificateId) return;
    if (verdict.accepted) {
      sessions.set(client, verdict.session);
      return;
    }
    log('info', 'mqtt: closing a connection the registry no longer allows', {
      clientId: client.id,
      certificateId,
      reason: verdict.reason,
    });
    sessions.delete(client);
    bridges.get(client)?.setCloseReason(ReasonCode.NotAuthorized);
    client.close();
  }

  /** A PUBLISH or SUBSCRIBE of an MQTT 5 client, decided before aedes sees it so that a denial gets a reason code. */
  function allowedNow(client: Client, action: IotMqttAction, resource: string): boolean {
    const session = sessions.get(client);
    if (session !== undefined && authorized(session, action, arn(resource))) return true;
    log('info', 'mqtt: denied, answered with reason code 0x87 (MQTT 5)', { clientId: client.id, action, resource });
    return false;
  }

  /** Route a new connection by the MQTT version of its CONNECT: MQTT 5 through a bridge, the rest to aedes as is. */
  async function accept(socket: TLSSocket): Promise<void> {
    unidentified.add(socket);
    const { protocolVersion, received } = await readProtocolVersion(socket, CONNECT_TIMEOUT_MS);
    unidentified.delete(socket);
    if (socket.destroyed) return;
    if (protocolVersion !== MQTT_5) {
      if (received.length > 0) socket.unshift(received);
      broker.handle(socket);
      return;
    }
    const bridge = new Mqtt5Bridge({
      device: socket,
      received,
      authorization: {
        mayPublish: (topic) => allowedNow(client, 'iot:Publish', `topic/${topic}`),
        maySubscribe: (filter) => allowedNow(client, 'iot:Subscribe', `topicfilter/${filter}`),
      },
    });
    deviceSockets.set(bridge.brokerSide, socket);
    const client = broker.handle(bridge.brokerSide);
    bridges.set(client, bridge);
    bridge.start();
  }

  const server: Server = createServer(
    {
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      ca: options.deviceCaPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (socket) => void accept(socket),
  );
  server.on('tlsClientError', (error) => log('info', 'mqtt: TLS handshake refused', { reason: error.message }));
  server.listen(options.port, options.host ?? '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (error) {
    stopWatching();
    await new Promise<void>((resolve) => broker.close(resolve));
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => {
      closing ??= (async () => {
        stopWatching();
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of unidentified) socket.destroy();
        for (const client of sessions.keys()) bridges.get(client)?.setCloseReason(ReasonCode.ServerShuttingDown);
        // Closing the broker closes every client connection, which lets the server finish closing.
        await new Promise<void>((resolve) => broker.close(resolve));
        await serverClosed;
      })();
      return closing;
    },
  };
}

/** The certificate id AWS IoT would give the client's certificate: lowercase hex SHA-256 of its DER. */
function peerCertificateId(socket: TLSSocket): string | undefined {
  const certificate = socket.getPeerX509Certificate?.();
  return certificate === undefined ? undefined : createHash('sha256').update(certificate.raw).digest('hex');
}

/**
 * The thing a connection is evaluated for. With exclusive association (what cvm uses) a certificate has one thing
 * and that is it; with several, AWS IoT takes the one named like the client id.
 */
function attachedThingName(certificate: CertificateRecord, clientId: string): string | undefined {
  if (certificate.things.length === 1) return certificate.things[0];
  return certificate.things.includes(clientId) ? clientId : undefined;
}

/** The policy variables and condition keys of a connection; the thing's only when a thing is attached. */
function connectionVariables(clientId: string, thing: ThingRecord | undefined): PolicyVariables {
  if (thing === undefined) return { 'iot:ClientId': clientId, 'iot:Connection.Thing.IsAttached': 'false' };
  const attributes = Object.fromEntries(
    Object.entries(thing.attributes).map(([name, value]) => [`iot:Connection.Thing.Attributes[${name}]`, value]),
  );
  return {
    ...attributes,
    'iot:ClientId': clientId,
    'iot:Connection.Thing.ThingName': thing.name,
    'iot:Connection.Thing.IsAttached': 'true',
  };
}
