import type { IConnectPacket, IPublishPacket, ISubscribePacket, Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Mqtt5Translation, ReasonCode, type Step } from '../../../../local/mqtt/mqtt5-translation.ts';

const OWN = 'things/dev/';

/** A translation whose policy allows what is under `things/dev/` and nothing else. */
function translation(): Mqtt5Translation {
  return new Mqtt5Translation({
    mayPublish: (topic) => topic.startsWith(OWN),
    maySubscribe: (filter) => filter.startsWith(OWN) || filter.startsWith(`$share/group/${OWN}`),
  });
}

function connected(): Mqtt5Translation {
  const t = translation();
  t.fromDevice(connect());
  return t;
}

function connect(overrides: Partial<IConnectPacket> = {}): IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clientId: 'dev',
    clean: true,
    keepalive: 30,
    ...overrides,
  };
}

function publish(topic: string, overrides: Partial<IPublishPacket> = {}): IPublishPacket {
  return {
    cmd: 'publish',
    topic,
    payload: Buffer.from('x'),
    qos: 1,
    retain: false,
    dup: false,
    messageId: 7,
    ...overrides,
  };
}

function subscribe(...filters: string[]): ISubscribePacket {
  return { cmd: 'subscribe', messageId: 3, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) };
}

const toBroker = (packet: Packet): Step => ({ kind: 'toBroker', packet });
const toDevice = (packet: Packet): Step => ({ kind: 'toDevice', packet });

describe('Mqtt5Translation', () => {
  describe('CONNECT', () => {
    it('passes the CONNECT on as MQTT 3.1.1: client id, Clean Start as clean session, credentials, will without its properties', () => {
      const steps = translation().fromDevice(
        connect({
          clean: false,
          username: 'u',
          properties: { sessionExpiryInterval: 60, userProperties: { a: 'b' } },
          will: {
            topic: 'things/dev/gone',
            payload: Buffer.from('bye'),
            qos: 1,
            retain: true,
            properties: { willDelayInterval: 5 },
          },
        }),
      );
      expect(steps).toEqual([
        toBroker({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clientId: 'dev',
          clean: false,
          keepalive: 30,
          username: 'u',
          will: { topic: 'things/dev/gone', payload: Buffer.from('bye'), qos: 1, retain: true },
        }),
      ]);
    });

    it('refuses a will at QoS 2 with CONNACK 0x9B, and enhanced authentication with 0x8C, then closes', () => {
      const will = { topic: 'things/dev/gone', payload: 'bye', qos: 2 as const };
      expect(translation().fromDevice(connect({ will }))).toEqual([
        toDevice({ cmd: 'connack', sessionPresent: false, reasonCode: ReasonCode.QosNotSupported }),
        { kind: 'close' },
      ]);
      expect(translation().fromDevice(connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } }))).toEqual([
        toDevice({ cmd: 'connack', sessionPresent: false, reasonCode: ReasonCode.BadAuthenticationMethod }),
        { kind: 'close' },
      ]);
    });

    it('ends the connection on a second CONNECT (protocol error)', () => {
      expect(connected().fromDevice(connect())).toEqual([{ kind: 'disconnect', reasonCode: ReasonCode.ProtocolError }]);
    });
  });

  describe('CONNACK', () => {
    it('gives an accepted connection AWS IoT’s capabilities: Maximum QoS 1, 8 topic aliases, no subscription identifiers', () => {
      expect(connected().fromBroker({ cmd: 'connack', returnCode: 0, sessionPresent: true })).toEqual([
        {
          cmd: 'connack',
          sessionPresent: true,
          reasonCode: 0,
          properties: {
            maximumQoS: 1,
            topicAliasMaximum: 8,
            subscriptionIdentifiersAvailable: false,
            sharedSubscriptionAvailable: false,
          },
        },
      ]);
    });

    it.each([
      [5, 0x87],
      [2, 0x85],
      [4, 0x86],
      [3, 0x88],
      [1, 0x84],
      [99, 0x80],
    ])('turns MQTT 3.1.1 return code %i into reason code 0x%s', (returnCode, reasonCode) => {
      expect(connected().fromBroker({ cmd: 'connack', returnCode, sessionPresent: false })).toEqual([
        { cmd: 'connack', sessionPresent: false, reasonCode },
      ]);
    });
  });

  describe('PUBLISH', () => {
    it('passes an allowed publish on, without its MQTT 5 properties', () => {
      const packet = publish('things/dev/a', { properties: { contentType: 'text/plain' } });
      expect(connected().fromDevice(packet)).toEqual([toBroker(publish('things/dev/a'))]);
    });

    it('answers a denied QoS 1 publish with PUBACK 0x87 and drops a denied QoS 0 one, the broker never seeing either', () => {
      const t = connected();
      expect(t.fromDevice(publish('things/other/a'))).toEqual([
        toDevice({ cmd: 'puback', messageId: 7, reasonCode: ReasonCode.NotAuthorized }),
      ]);
      expect(t.fromDevice(publish('things/other/a', { qos: 0 }))).toEqual([]);
    });

    it('ends the connection on QoS 2 with DISCONNECT 0x9B (AWS IoT’s Maximum QoS is 1)', () => {
      expect(connected().fromDevice(publish('things/dev/a', { qos: 2 }))).toEqual([
        { kind: 'disconnect', reasonCode: ReasonCode.QosNotSupported },
      ]);
    });

    it('resolves a topic alias, and authorizes the topic it stands for', () => {
      const t = connected();
      expect(t.fromDevice(publish('things/dev/a', { properties: { topicAlias: 1 } }))).toEqual([
        toBroker(publish('things/dev/a')),
      ]);
      expect(t.fromDevice(publish('', { properties: { topicAlias: 1 } }))).toEqual([toBroker(publish('things/dev/a'))]);
      t.fromDevice(publish('things/other/b', { properties: { topicAlias: 2 } }));
      expect(t.fromDevice(publish('', { properties: { topicAlias: 2 } }))).toEqual([
        toDevice({ cmd: 'puback', messageId: 7, reasonCode: ReasonCode.NotAuthorized }),
      ]);
    });

    it('ends the connection on an alias out of 1–8 (0x94) or one used before it was set (0x82)', () => {
      expect(connected().fromDevice(publish('things/dev/a', { properties: { topicAlias: 9 } }))).toEqual([
        { kind: 'disconnect', reasonCode: ReasonCode.TopicAliasInvalid },
      ]);
      expect(connected().fromDevice(publish('things/dev/a', { properties: { topicAlias: 0 } }))).toEqual([
        { kind: 'disconnect', reasonCode: ReasonCode.TopicAliasInvalid },
      ]);
      expect(connected().fromDevice(publish('', { properties: { topicAlias: 3 } }))).toEqual([
        { kind: 'disconnect', reasonCode: ReasonCode.ProtocolError },
      ]);
    });

    it('gives the broker’s PUBACK reason code Success, and delivers the broker’s PUBLISH as is', () => {
      const t = connected();
      expect(t.fromBroker({ cmd: 'puback', messageId: 9 })).toEqual([{ cmd: 'puback', messageId: 9, reasonCode: 0 }]);
      expect(t.fromBroker(publish('things/dev/in'))).toEqual([publish('things/dev/in')]);
    });
  });

  describe('SUBSCRIBE', () => {
    it('sends the broker only the allowed filters, at most at QoS 1, and merges its SUBACK with 0x87 for the others', () => {
      const t = connected();
      const packet = subscribe('things/other/#', 'things/dev/#', 'things/dev/b');
      packet.subscriptions[1] = { topic: 'things/dev/#', qos: 2 };
      expect(t.fromDevice(packet)).toEqual([
        toBroker({
          cmd: 'subscribe',
          messageId: 3,
          subscriptions: [
            { topic: 'things/dev/#', qos: 1 },
            { topic: 'things/dev/b', qos: 1 },
          ],
        }),
      ]);
      expect(t.fromBroker({ cmd: 'suback', messageId: 3, granted: [1, 0x80] })).toEqual([
        { cmd: 'suback', messageId: 3, granted: [ReasonCode.NotAuthorized, 1, ReasonCode.UnspecifiedError] },
      ]);
    });

    it('answers a SUBSCRIBE with no allowed filter itself', () => {
      expect(connected().fromDevice(subscribe('things/other/#', '#'))).toEqual([
        toDevice({ cmd: 'suback', messageId: 3, granted: [ReasonCode.NotAuthorized, ReasonCode.NotAuthorized] }),
      ]);
    });

    it('answers a shared subscription 0x9E (the broker has none), and a subscription identifier with DISCONNECT 0xA1', () => {
      expect(connected().fromDevice(subscribe('$share/group/things/dev/#'))).toEqual([
        toDevice({ cmd: 'suback', messageId: 3, granted: [ReasonCode.SharedSubscriptionsNotSupported] }),
      ]);
      expect(
        connected().fromDevice({ ...subscribe('things/dev/#'), properties: { subscriptionIdentifier: 1 } }),
      ).toEqual([{ kind: 'disconnect', reasonCode: ReasonCode.SubscriptionIdentifiersNotSupported }]);
    });

    it('answers every filter of an UNSUBSCRIBE with Success', () => {
      const t = connected();
      expect(t.fromDevice({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a', 'b'] })).toEqual([
        toBroker({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a', 'b'] }),
      ]);
      expect(t.fromBroker({ cmd: 'unsuback', messageId: 4, granted: [] })).toEqual([
        { cmd: 'unsuback', messageId: 4, granted: [0, 0] },
      ]);
    });
  });

  describe('DISCONNECT and the packets AWS IoT does not support', () => {
    it('passes a DISCONNECT on, but closes without one for 0x04 so that the broker publishes the will', () => {
      expect(connected().fromDevice({ cmd: 'disconnect', reasonCode: 0 })).toEqual([toBroker({ cmd: 'disconnect' })]);
      expect(connected().fromDevice({ cmd: 'disconnect', reasonCode: 0x04 })).toEqual([{ kind: 'close' }]);
    });

    it.each<Packet>([
      { cmd: 'pubrec', messageId: 1 },
      { cmd: 'pubrel', messageId: 1 },
      { cmd: 'pubcomp', messageId: 1 },
      { cmd: 'auth', reasonCode: 0x18 },
    ])('ends the connection on $cmd with DISCONNECT 0x82', (packet) => {
      expect(connected().fromDevice(packet)).toEqual([{ kind: 'disconnect', reasonCode: ReasonCode.ProtocolError }]);
    });

    it('passes PINGREQ and the device’s PUBACK on', () => {
      const t = connected();
      expect(t.fromDevice({ cmd: 'pingreq' })).toEqual([toBroker({ cmd: 'pingreq' })]);
      expect(t.fromDevice({ cmd: 'puback', messageId: 5, reasonCode: 0x10 })).toEqual([
        toBroker({ cmd: 'puback', messageId: 5 }),
      ]);
    });
  });
});
