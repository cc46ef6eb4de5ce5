/** Reads a request body up to a size limit, the way a front door with a payload quota does. */
import type { IncomingMessage } from 'node:http';

export type BodyReadResult = { readonly kind: 'read'; readonly body: Buffer } | { readonly kind: 'too-large' };

/**
 * How much of an oversized body is read and thrown away before the connection is cut. Reading it lets the
 * client finish sending and then see the 413; past this a client that keeps sending is simply disconnected.
 */
const DRAIN_FACTOR = 8;

export class RequestBodyError extends Error {
  override readonly name = 'RequestBodyError';
}

export function readBodyWithLimit(request: IncomingMessage, limitBytes: number): Promise<BodyReadResult> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    let tooLarge = Number.isFinite(declared) && declared > limitBytes;
    const chunks: Buffer[] = [];
    let received = 0;

    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (received > limitBytes * DRAIN_FACTOR) {
          request.destroy();
          resolve({ kind: 'too-large' });
        }
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(tooLarge ? { kind: 'too-large' } : { kind: 'read', body: Buffer.concat(chunks) }));
    request.on('error', (error) =>
      reject(new RequestBodyError('The request body could not be read', { cause: error })),
    );
    request.on('close', () => {
      if (!request.complete) reject(new RequestBodyError('The client closed the connection before the body ended'));
    });
  });
}
