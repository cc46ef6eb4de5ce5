/**
 * One MQTT 5 device connection, carried to the broker as MQTT 3.1.1. What the device sends is parsed with
 * mqtt-packet (the parser aedes and MQTT.js use), decided by `Mqtt5Translation`, and passed on or answered; what
 * the broker writes to `brokerSide` is parsed as MQTT 3.1.1 and written to the device as MQTT 5.
 *
 * The broker keeps doing everything else (sessions, retained messages, QoS 1 delivery, wills, keep alive, the
 * policy checks it runs itself), so an MQTT 5 device and an MQTT 3.1.1 device share topics as they do in AWS IoT.
 */
import { Duplex } from 'node:stream';
import { generate, parser, type Packet } from 'mqtt-packet';
import { Mqtt5Translation, ReasonCode, type Mqtt5Authorization, type Step } from './mqtt5-translation.ts';

export interface Mqtt5BridgeOptions {
  /** The device's connection, paused, its first bytes already read. */
  readonly device: Duplex;
  /** What was read from it so far: its CONNECT, and whatever followed in the same reads. */
  readonly received: Buffer;
  readonly authorization: Mqtt5Authorization;
}

export class Mqtt5Bridge {
  /** The connection as the broker sees it: MQTT 3.1.1 both ways. Hand it to the broker, then call `start()`. */
  readonly brokerSide: Duplex;
  private readonly device: Duplex;
  private readonly received: Buffer;
  private readonly translation: Mqtt5Translation;
  /** Device packets that came before the CONNACK; AWS IoT asks clients to wait for it, so few ever do. */
  private readonly held: Packet[] = [];
  private accepted = false;
  private closeReason: number | undefined;
  private closed = false;

  constructor(options: Mqtt5BridgeOptions) {
    this.device = options.device;
    this.received = options.received;
    this.translation = new Mqtt5Translation(options.authorization);
    const fromBroker = parser({ protocolVersion: 4 });
    fromBroker.on('packet', (packet) => this.fromBroker(packet));
    fromBroker.on('error', () => this.close());
    this.brokerSide = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, callback) => {
        fromBroker.parse(chunk);
        callback();
      },
      final: (callback) => {
        this.close();
        callback();
      },
      destroy: (error, callback) => {
        this.close();
        callback(error);
      },
    });
  }

  /** Begin reading the device, starting with the bytes already read. */
  start(): void {
    const fromDevice = parser({ protocolVersion: 5 });
    fromDevice.on('packet', (packet) => this.fromDevice(packet));
    fromDevice.on('error', () => this.disconnect(ReasonCode.MalformedPacket));
    this.device.on('data', (chunk: Buffer) => fromDevice.parse(chunk));
    this.device.on('error', () => this.close());
    this.device.on('close', () => this.close());
    fromDevice.parse(this.received);
    this.device.resume();
  }

  /**
   * The reason code of the DISCONNECT the device gets when the broker next closes this connection (revoked, taken
   * over by a newer connection, the server stopping). The first reason given wins.
   */
  setCloseReason(reasonCode: number): void {
    this.closeReason ??= reasonCode;
  }

  private fromDevice(packet: Packet): void {
    if (this.closed) return;
    if (!this.accepted && packet.cmd !== 'connect') {
      this.held.push(packet);
      return;
    }
    for (const step of this.translation.fromDevice(packet)) this.perform(step);
  }

  private fromBroker(packet: Packet): void {
    for (const translated of this.translation.fromBroker(packet)) {
      this.toDevice(translated);
      if (translated.cmd === 'connack' && translated.reasonCode === ReasonCode.Success) this.accepted = true;
    }
    if (this.accepted) {
      for (const held of this.held.splice(0)) this.fromDevice(held);
    }
  }

  private perform(step: Step): void {
    switch (step.kind) {
      case 'toBroker':
        if (!this.closed) this.brokerSide.push(generate(step.packet, { protocolVersion: 4 }));
        return;
      case 'toDevice':
        this.toDevice(step.packet);
        return;
      case 'disconnect':
        this.disconnect(step.reasonCode);
        return;
      case 'close':
        this.close();
    }
  }

  private toDevice(packet: Packet): void {
    if (this.closed || !this.device.writable) return;
    this.device.write(generate(packet, { protocolVersion: 5 }));
  }

  private disconnect(reasonCode: number): void {
    this.setCloseReason(reasonCode);
    this.close();
  }

  /**
   * Close both sides once: the device gets a DISCONNECT with the close reason if it had been accepted, and the
   * broker sees its connection end without one (which is what publishes a will, as after a dropped connection).
   */
  private close(): void {
    if (this.closed) return;
    if (this.accepted && this.closeReason !== undefined)
      this.toDevice({ cmd: 'disconnect', reasonCode: this.closeReason });
    this.closed = true;
    this.device.end();
    this.brokerSide.push(null);
  }
}
