/**
 * What the local endpoint says to an MQTT 5 device, decided packet by packet: the device speaks MQTT 5, the broker
 * behind it (aedes 1.x) speaks MQTT 3.1.1, and this translation stands between them with AWS IoT Core's MQTT 5
 * answers (its developer guide, "MQTT 5 supported features", "MQTT reason codes", "AWS IoT differences from MQTT
 * specifications"):
 *
 * - CONNACK carries a reason code (0x87 Not authorized for a refused CONNECT) and AWS IoT's capabilities: Maximum
 *   QoS 1, 8 topic aliases, no subscription identifiers.
 * - A PUBLISH the policy denies is answered with PUBACK 0x87 (QoS 1) or dropped (QoS 0); the connection stays open.
 * - A SUBSCRIBE answers each filter on its own: 0x87 for a denied one, the granted QoS (at most 1) for the others.
 * - QoS 2, AUTH, subscription identifiers and a broken topic alias end the connection with AWS IoT's DISCONNECT
 *   reason code.
 *
 * Pure: no I/O. `mqtt5-bridge.ts` feeds it parsed packets and sends what it returns.
 */
import type {
  IConnackPacket,
  IConnectPacket,
  IPublishPacket,
  ISubackPacket,
  ISubscribePacket,
  ISubscription,
  Packet,
} from 'mqtt-packet';

/** The MQTT 5 reason codes the endpoint sends (MQTT 5.0 §2.4), with the names the specification gives them. */
export const ReasonCode = {
  Success: 0x00,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicAliasInvalid: 0x94,
  QosNotSupported: 0x9b,
  SharedSubscriptionsNotSupported: 0x9e,
  SubscriptionIdentifiersNotSupported: 0xa1,
} as const;

/** DISCONNECT reason code of a device that wants its will published (MQTT 5.0 §3.14.2.1). */
const DISCONNECT_WITH_WILL = 0x04;
/** AWS IoT Core's default quota of topic aliases per connection. */
export const TOPIC_ALIAS_MAXIMUM = 8;
/** AWS IoT Core supports QoS 0 and 1 only. */
const MAXIMUM_QOS = 1;
/** The MQTT 3.1.1 SUBACK code for a refused subscription. */
const SUBACK_FAILURE_V311 = 0x80;

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3) as MQTT 5 CONNACK reason codes. */
const CONNACK_REASON_CODES: Readonly<Record<number, number>> = {
  1: ReasonCode.UnsupportedProtocolVersion,
  2: ReasonCode.ClientIdentifierNotValid,
  3: ReasonCode.ServerUnavailable,
  4: ReasonCode.BadUserNameOrPassword,
  5: ReasonCode.NotAuthorized,
};

/** What the CONNACK of an accepted connection announces: AWS IoT Core's MQTT 5 capabilities, as far as held here. */
const ACCEPTED_CONNACK_PROPERTIES: NonNullable<IConnackPacket['properties']> = {
  maximumQoS: MAXIMUM_QOS,
  topicAliasMaximum: TOPIC_ALIAS_MAXIMUM,
  subscriptionIdentifiersAvailable: false,
  // AWS IoT has shared subscriptions; the broker behind this endpoint does not, so the endpoint says so.
  sharedSubscriptionAvailable: false,
};

/** One thing to do for a packet: send to the broker (MQTT 3.1.1), answer the device (MQTT 5), or end the connection. */
export type Step =
  | { readonly kind: 'toBroker'; readonly packet: Packet }
  | { readonly kind: 'toDevice'; readonly packet: Packet }
  /** DISCONNECT the device with this reason code and close both sides. */
  | { readonly kind: 'disconnect'; readonly reasonCode: number }
  /** Close both sides, sending no DISCONNECT: to the broker the connection dropped, so it publishes the will. */
  | { readonly kind: 'close' };

/** Whether the connection may do this now, by the policy: asked per PUBLISH and per subscription. */
export interface Mqtt5Authorization {
  mayPublish(topic: string): boolean;
  maySubscribe(filter: string): boolean;
}

export class Mqtt5Translation {
  private readonly topicAliases = new Map<number, string>();
  /** Per SUBSCRIBE sent on to the broker: the reason code of each filter, undefined where the broker decides. */
  private readonly pendingSubscribes = new Map<number, ReadonlyArray<number | undefined>>();
  /** Per UNSUBSCRIBE sent on to the broker: how many filters it named (an MQTT 5 UNSUBACK has a code for each). */
  private readonly pendingUnsubscribes = new Map<number, number>();
  private connectSeen = false;

  constructor(private readonly authorization: Mqtt5Authorization) {}

  /** A packet the device sent. */
  fromDevice(packet: Packet): Step[] {
    switch (packet.cmd) {
      case 'connect':
        return this.connect(packet);
      case 'publish':
        return this.publish(packet);
      case 'subscribe':
        return this.subscribe(packet);
      case 'unsubscribe': {
        const messageId = packet.messageId ?? 0;
        this.pendingUnsubscribes.set(messageId, packet.unsubscriptions.length);
        return [toBroker({ cmd: 'unsubscribe', messageId, unsubscriptions: packet.unsubscriptions })];
      }
      case 'puback':
        return [toBroker({ cmd: 'puback', messageId: packet.messageId ?? 0 })];
      case 'pingreq':
        return [toBroker({ cmd: 'pingreq' })];
      case 'disconnect':
        // Disconnect with Will Message: the will is to be published, as after a dropped connection.
        return packet.reasonCode === DISCONNECT_WITH_WILL ? [CLOSE] : [toBroker({ cmd: 'disconnect' })];
      default:
        // AWS IoT supports neither QoS 2 (PUBREC, PUBREL, PUBCOMP) nor AUTH; a server sends no CONNACK-like packets.
        return [disconnect(ReasonCode.ProtocolError)];
    }
  }

  /** A packet the broker sent to this device (MQTT 3.1.1), as the device must receive it (MQTT 5). */
  fromBroker(packet: Packet): Packet[] {
    switch (packet.cmd) {
      case 'connack':
        return [this.connack(packet)];
      case 'publish':
        return [
          {
            cmd: 'publish',
            topic: packet.topic,
            payload: packet.payload,
            qos: packet.qos,
            retain: packet.retain,
            dup: packet.dup,
            ...(packet.messageId === undefined ? {} : { messageId: packet.messageId }),
          },
        ];
      case 'suback':
        return [this.suback(packet)];
      case 'unsuback': {
        // MQTT 3.1.1's UNSUBACK has no codes; AWS IoT answers Success for each filter.
        const messageId = packet.messageId ?? 0;
        const count = this.pendingUnsubscribes.get(messageId) ?? 1;
        this.pendingUnsubscribes.delete(messageId);
        return [{ cmd: 'unsuback', messageId, granted: new Array<number>(count).fill(ReasonCode.Success) }];
      }
      case 'puback':
        return [{ cmd: 'puback', messageId: packet.messageId ?? 0, reasonCode: ReasonCode.Success }];
      default:
        return [packet];
    }
  }

  private connect(packet: IConnectPacket): Step[] {
    if (this.connectSeen) return [disconnect(ReasonCode.ProtocolError)];
    this.connectSeen = true;
    const will = packet.will;
    if (will !== undefined && (will.qos ?? 0) > MAXIMUM_QOS) return refuseConnect(ReasonCode.QosNotSupported);
    // AWS IoT has no MQTT 5 enhanced authentication (no AUTH packets).
    if (packet.properties?.authenticationMethod !== undefined) {
      return refuseConnect(ReasonCode.BadAuthenticationMethod);
    }
    return [
      toBroker({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: packet.clientId,
        // Clean Start = 1 is MQTT 3.1.1's clean session; the Session Expiry Interval has no 3.1.1 counterpart.
        clean: packet.clean ?? true,
        keepalive: packet.keepalive ?? 0,
        ...(packet.username === undefined ? {} : { username: packet.username }),
        ...(packet.password === undefined ? {} : { password: packet.password }),
        ...(will === undefined
          ? {}
          : { will: { topic: will.topic, payload: will.payload, qos: will.qos ?? 0, retain: will.retain ?? false } }),
      }),
    ];
  }

  private connack(packet: IConnackPacket): IConnackPacket {
    const returnCode = packet.returnCode ?? 0;
    if (returnCode === 0) {
      return {
        cmd: 'connack',
        sessionPresent: packet.sessionPresent,
        reasonCode: ReasonCode.Success,
        properties: { ...ACCEPTED_CONNACK_PROPERTIES },
      };
    }
    return {
      cmd: 'connack',
      sessionPresent: false,
      reasonCode: CONNACK_REASON_CODES[returnCode] ?? ReasonCode.UnspecifiedError,
    };
  }

  private publish(packet: IPublishPacket): Step[] {
    if (packet.qos > MAXIMUM_QOS) return [disconnect(ReasonCode.QosNotSupported)];
    let topic = packet.topic;
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      if (alias < 1 || alias > TOPIC_ALIAS_MAXIMUM) return [disconnect(ReasonCode.TopicAliasInvalid)];
      if (topic === '') {
        const aliased = this.topicAliases.get(alias);
        // A topic alias used before it was set is a protocol error (MQTT 5.0 §3.3.2.3.4).
        if (aliased === undefined) return [disconnect(ReasonCode.ProtocolError)];
        topic = aliased;
      } else {
        this.topicAliases.set(alias, topic);
      }
    }
    if (!this.authorization.mayPublish(topic)) {
      // QoS 0 has no acknowledgement to carry a reason code: the message is dropped and the connection stays.
      if (packet.qos === 0) return [];
      return [
        {
          kind: 'toDevice',
          packet: { cmd: 'puback', messageId: packet.messageId ?? 0, reasonCode: ReasonCode.NotAuthorized },
        },
      ];
    }
    return [
      toBroker({
        cmd: 'publish',
        topic,
        payload: packet.payload,
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
        ...(packet.messageId === undefined ? {} : { messageId: packet.messageId }),
      }),
    ];
  }

  private subscribe(packet: ISubscribePacket): Step[] {
    if (packet.properties?.subscriptionIdentifier !== undefined) {
      return [disconnect(ReasonCode.SubscriptionIdentifiersNotSupported)];
    }
    const codes: Array<number | undefined> = [];
    const forwarded: ISubscription[] = [];
    for (const subscription of packet.subscriptions) {
      if (!this.authorization.maySubscribe(subscription.topic)) {
        codes.push(ReasonCode.NotAuthorized);
      } else if (subscription.topic.startsWith('$share/')) {
        codes.push(ReasonCode.SharedSubscriptionsNotSupported);
      } else {
        codes.push(undefined);
        // A server grants at most its Maximum QoS (MQTT 5.0 §3.9.3); AWS IoT's is 1.
        forwarded.push({
          topic: subscription.topic,
          qos: subscription.qos > MAXIMUM_QOS ? MAXIMUM_QOS : subscription.qos,
        });
      }
    }
    const messageId = packet.messageId ?? 0;
    if (forwarded.length === 0) {
      return [{ kind: 'toDevice', packet: { cmd: 'suback', messageId, granted: codes.map((code) => code ?? 0) } }];
    }
    this.pendingSubscribes.set(messageId, codes);
    return [toBroker({ cmd: 'subscribe', messageId, subscriptions: forwarded })];
  }

  /** The broker's SUBACK for the filters it was sent, merged with the codes decided here for the others. */
  private suback(packet: ISubackPacket): ISubackPacket {
    const messageId = packet.messageId ?? 0;
    const codes = this.pendingSubscribes.get(messageId) ?? [];
    this.pendingSubscribes.delete(messageId);
    const fromBroker = packet.granted.map((granted) =>
      typeof granted === 'number' && granted !== SUBACK_FAILURE_V311 ? granted : ReasonCode.UnspecifiedError,
    );
    let next = 0;
    const granted = codes.map((code) => code ?? fromBroker[next++] ?? ReasonCode.UnspecifiedError);
    return { cmd: 'suback', messageId, granted: codes.length === 0 ? fromBroker : granted };
  }
}

const CLOSE: Step = { kind: 'close' };

function toBroker(packet: Packet): Step {
  return { kind: 'toBroker', packet };
}

function disconnect(reasonCode: number): Step {
  return { kind: 'disconnect', reasonCode };
}

/** A CONNACK that says why, then the close the specification asks for after it (MQTT 5.0 §3.2.2.2). */
function refuseConnect(reasonCode: number): Step[] {
  return [{ kind: 'toDevice', packet: { cmd: 'connack', sessionPresent: false, reasonCode } }, CLOSE];
}
