/**
 * Which MQTT version a new connection speaks, read from its CONNECT (MQTT 5.0 §3.1.2.2) with mqtt-packet's parser,
 * keeping every byte read: the caller hands the connection on, with those bytes, to the broker as it is (MQTT 3.1
 * and 3.1.1) or to the MQTT 5 bridge.
 */
import type { Duplex } from 'node:stream';
import { parser } from 'mqtt-packet';

export interface FirstPacket {
  /** 3, 4 (3.1.1) or 5; undefined when the connection ended, timed out or did not begin with a CONNECT. */
  readonly protocolVersion: number | undefined;
  /** Every byte read, the CONNECT and whatever followed it. */
  readonly received: Buffer;
}

/**
 * Resolves once the CONNECT is read, or the connection ended, with the connection paused. A connection that sends
 * no CONNECT within `timeoutMs` is closed, as aedes closes one after its `connectTimeout`.
 */
export function readProtocolVersion(connection: Duplex, timeoutMs: number): Promise<FirstPacket> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const firstPacket = parser();
    let settled = false;
    const finish = (protocolVersion: number | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.pause();
      connection.off('data', onData);
      connection.off('close', onClose);
      connection.off('error', onClose);
      resolve({ protocolVersion, received: Buffer.concat(chunks) });
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      firstPacket.parse(chunk);
    };
    const onClose = (): void => finish(undefined);
    const timer = setTimeout(() => {
      finish(undefined);
      connection.destroy();
    }, timeoutMs);
    // The parser goes on through the rest of the chunk; only its first packet counts.
    firstPacket.on('packet', (packet) => finish(packet.cmd === 'connect' ? packet.protocolVersion : undefined));
    firstPacket.on('error', () => finish(undefined));
    connection.on('data', onData);
    connection.once('close', onClose);
    // A reset before the CONNECT ends the connection like a close (and must not go unhandled).
    connection.on('error', onClose);
  });
}
