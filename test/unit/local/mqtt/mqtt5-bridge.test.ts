/**
 * The bridge between an MQTT 5 device and the MQTT 3.1.1 broker, on in-memory streams: what each side receives,
 * byte for byte as mqtt-packet writes it.
 */
import { Duplex } from 'node:stream';
import { generate, parser, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Mqtt5Bridge } from '../../../../local/mqtt/mqtt5-bridge.ts';
import { ReasonCode } from '../../../../local/mqtt/mqtt5-translation.ts';

interface Wired {
  readonly bridge: Mqtt5Bridge;
  /** Packets the device received (MQTT 5). */
  readonly toDevice: Packet[];
  /** Packets the broker received (MQTT 3.1.1). */
  readonly toBroker: Packet[];
  deviceSends(...packets: Packet[]): void;
  brokerSends(packet: Packet): void;
  readonly device: Duplex;
}

function wire(firstPackets: Packet[]): Wired {
  const toDevice: Packet[] = [];
  const toBroker: Packet[] = [];
  const deviceParser = parser({ protocolVersion: 5 });
  deviceParser.on('packet', (packet) => toDevice.push(packet));
  const device = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, callback) => {
      deviceParser.parse(chunk);
      callback();
    },
  });
  const encode = (packets: Packet[]): Buffer =>
    Buffer.concat(packets.map((packet) => generate(packet, { protocolVersion: 5 })));
  const bridge = new Mqtt5Bridge({
    device,
    received: encode(firstPackets),
    authorization: { mayPublish: (topic) => topic.startsWith('things/dev/'), maySubscribe: () => true },
  });
  const brokerParser = parser({ protocolVersion: 4 });
  brokerParser.on('packet', (packet) => toBroker.push(packet));
  bridge.brokerSide.on('data', (chunk: Buffer) => brokerParser.parse(chunk));
  bridge.start();
  return {
    bridge,
    toDevice,
    toBroker,
    device,
    deviceSends: (...packets) => device.push(encode(packets)),
    brokerSends: (packet) => bridge.brokerSide.write(generate(packet, { protocolVersion: 4 })),
  };
}

const CONNECT: Packet = { cmd: 'connect', protocolVersion: 5, clientId: 'dev', clean: true, keepalive: 0 };
const publish = (topic: string): Packet => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from('x'),
  qos: 1,
  retain: false,
  dup: false,
  messageId: 1,
});

/** Lets the streams deliver what was written. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Mqtt5Bridge', () => {
  it('holds what the device sent before the CONNACK, and decides it once the connection is accepted', async () => {
    // The policy is only known once the broker accepted the connection; a PUBLISH read with the CONNECT must wait.
    const wired = wire([CONNECT, publish('things/dev/a'), publish('things/other/b')]);
    await settle();
    expect(wired.toBroker.map((packet) => packet.cmd)).toEqual(['connect']);
    wired.brokerSends({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    await settle();
    expect(
      wired.toDevice.map((packet) => [packet.cmd, 'reasonCode' in packet ? packet.reasonCode : undefined]),
    ).toEqual([
      ['connack', 0],
      ['puback', ReasonCode.NotAuthorized],
    ]);
    expect(wired.toBroker.map((packet) => (packet.cmd === 'publish' ? packet.topic : packet.cmd))).toEqual([
      'connect',
      'things/dev/a',
    ]);
  });

  it('sends a refusing CONNACK with its reason code and nothing held, when the broker refuses', async () => {
    const wired = wire([CONNECT, publish('things/dev/a')]);
    wired.brokerSends({ cmd: 'connack', returnCode: 5, sessionPresent: false });
    wired.bridge.brokerSide.destroy();
    await settle();
    expect(wired.toDevice).toEqual([expect.objectContaining({ cmd: 'connack', reasonCode: ReasonCode.NotAuthorized })]);
    expect(wired.toBroker.map((packet) => packet.cmd)).toEqual(['connect']);
    expect(wired.device.writableEnded).toBe(true);
  });

  it('tells the device why the broker closed it, with the reason set before the close', async () => {
    const wired = wire([CONNECT]);
    wired.brokerSends({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    wired.bridge.setCloseReason(ReasonCode.NotAuthorized);
    wired.bridge.setCloseReason(ReasonCode.ServerShuttingDown);
    wired.bridge.brokerSide.destroy();
    await settle();
    expect(wired.toDevice.at(-1)).toEqual(
      expect.objectContaining({ cmd: 'disconnect', reasonCode: ReasonCode.NotAuthorized }),
    );
    expect(wired.device.writableEnded).toBe(true);
  });

  it('ends the broker’s side without a DISCONNECT when the device drops, so that the will is published', async () => {
    const wired = wire([CONNECT]);
    wired.brokerSends({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    const ended = new Promise<void>((resolve) => wired.bridge.brokerSide.once('end', resolve));
    wired.device.destroy();
    await ended;
    expect(wired.toBroker.map((packet) => packet.cmd)).toEqual(['connect']);
  });

  it('answers malformed bytes with DISCONNECT 0x81 and closes', async () => {
    const wired = wire([CONNECT]);
    wired.brokerSends({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    wired.device.push(Buffer.from([0x30, 0x02, 0xff, 0xff]));
    await settle();
    expect(wired.toDevice.at(-1)).toEqual(
      expect.objectContaining({ cmd: 'disconnect', reasonCode: ReasonCode.MalformedPacket }),
    );
  });
});
