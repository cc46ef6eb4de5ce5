/**
 * dynalite in a thread of its own (started by dynalite.ts): it answers DynamoDB's wire protocol on a loopback port,
 * as before, but its request parsing, validation and LevelDB work no longer share the event loop of the AppSync
 * twin and the resolver. Plain JavaScript, so that the thread starts without a TypeScript loader.
 *
 * Messages: it posts `{ kind: 'listening', port }` or `{ kind: 'failed', message, code }` once. A `{ kind: 'request' }`
 * (dynalite-port-handler.ts: a request the SDK built, as it would go on the wire) is answered by dynalite's own
 * request handler, without a socket, with `{ kind: 'response', id, statusCode, headers, body }`. On `'close'` it stops
 * the server (dynalite closes its LevelDB store with it) and posts `{ kind: 'closed', message? }`, after which the
 * thread ends.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

// dynalite is CommonJS.
const dynalite = createRequire(import.meta.url)('dynalite');

const { path, host, port } = workerData;
// Tables become ACTIVE at once instead of after dynalite's default half second.
const server = dynalite({
  ...(path === undefined ? {} : { path }),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});

const failed = (error) => parentPort.postMessage({ kind: 'failed', message: error.message, code: error.code });
server.once('error', failed);
server.listen(port, host, () => {
  server.off('error', failed);
  parentPort.postMessage({ kind: 'listening', port: server.address().port });
});

// The handler the server was made with: dynalite reads a request's method, url, headers and 'data'/'end' events, and
// answers with statusCode, setHeader and end, which is all the in-thread request and response below provide.
const [handleRequest] = server.listeners('request');

function answerInThread({ id, method, url, headers, body }) {
  const request = Object.assign(new EventEmitter(), { method, url, headers });
  const answerHeaders = {};
  let answered = false;
  const response = {
    statusCode: 200,
    setHeader(name, value) {
      answerHeaders[name.toLowerCase()] = String(value);
    },
    end(payload) {
      answered = true;
      parentPort.postMessage({
        kind: 'response',
        id,
        statusCode: this.statusCode,
        headers: answerHeaders,
        body: payload === undefined ? '' : String(payload),
      });
    },
  };
  try {
    handleRequest(request, response);
    if (body !== '') request.emit('data', Buffer.from(body, 'utf8'));
    request.emit('end');
  } catch (error) {
    // Over HTTP this would have ended the thread; here the one request fails, as a DynamoDB 500 does.
    if (answered) throw error;
    response.statusCode = 500;
    response.setHeader('content-type', 'application/x-amz-json-1.0');
    response.end(
      JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) }),
    );
  }
}

parentPort.on('message', (message) => {
  if (message?.kind === 'request') {
    answerInThread(message);
    return;
  }
  if (message !== 'close') return;
  server.close((error) => {
    parentPort.postMessage({ kind: 'closed', ...(error ? { message: error.message } : {}) });
    parentPort.close();
  });
  // Keep-alive sockets of clients would otherwise hold close() open.
  server.closeAllConnections();
});
