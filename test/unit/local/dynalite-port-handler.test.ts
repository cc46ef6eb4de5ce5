import { HttpRequest } from '@smithy/protocol-http';
import { describe, expect, it } from 'vitest';
import { DynalitePortHandler, type PortRequest } from '../../../local/dynalite-port-handler.ts';

function handlerWithPosts(): { handler: DynalitePortHandler; posted: PortRequest[] } {
  const posted: PortRequest[] = [];
  const handler = new DynalitePortHandler({ postMessage: (message: PortRequest) => posted.push(message) });
  return { handler, posted };
}

const request = (fields: Partial<ConstructorParameters<typeof HttpRequest>[0]> = {}) =>
  new HttpRequest({
    method: 'POST',
    hostname: '127.0.0.1',
    path: '/',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'DynamoDB_20120810.GetItem' },
    body: '{"TableName":"t"}',
    ...fields,
  });

describe('DynalitePortHandler', () => {
  it('posts the request as it would go on the wire, and answers with the response posted back', async () => {
    const { handler, posted } = handlerWithPosts();
    const answer = handler.handle(request({ query: { a: 'b c', list: ['1', '2'] } }));
    expect(posted).toEqual([
      {
        kind: 'request',
        id: 1,
        method: 'POST',
        url: '/?a=b+c&list=1&list=2',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
        body: '{"TableName":"t"}',
      },
    ]);
    handler.answer({ kind: 'response', id: 1, statusCode: 200, headers: { 'x-amz-crc32': '1' }, body: '{"Item":{}}' });
    const { response } = await answer;
    expect(response.statusCode).toBe(200);
    expect(response.headers).toEqual({ 'x-amz-crc32': '1' });
    expect(Buffer.from(response.body as Uint8Array).toString('utf8')).toBe('{"Item":{}}');
  });

  it('carries a body given as bytes as its text', () => {
    const { handler, posted } = handlerWithPosts();
    void handler.handle(request({ body: new TextEncoder().encode('{"x":1}') }));
    expect(posted[0]?.body).toBe('{"x":1}');
  });

  it('answers each request with its own response, whatever the order', async () => {
    const { handler } = handlerWithPosts();
    const first = handler.handle(request());
    const second = handler.handle(request());
    handler.answer({ kind: 'response', id: 2, statusCode: 400, headers: {}, body: 'second' });
    handler.answer({ kind: 'response', id: 1, statusCode: 200, headers: {}, body: 'first' });
    expect((await first).response.statusCode).toBe(200);
    expect((await second).response.statusCode).toBe(400);
  });

  it('fails the requests in flight and every later one once the thread is gone', async () => {
    const { handler, posted } = handlerWithPosts();
    const inFlight = handler.handle(request());
    handler.fail(new Error("dynalite's thread has ended (exit code 1)."));
    await expect(inFlight).rejects.toThrow(/exit code 1/);
    await expect(handler.handle(request())).rejects.toThrow(/exit code 1/);
    expect(posted).toHaveLength(1);
  });

  it('rejects an aborted request at once and drops its late answer', async () => {
    const { handler } = handlerWithPosts();
    const controller = new AbortController();
    const aborted = handler.handle(request(), { abortSignal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    handler.answer({ kind: 'response', id: 1, statusCode: 200, headers: {}, body: '' });
    await expect(handler.handle(request(), { abortSignal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
