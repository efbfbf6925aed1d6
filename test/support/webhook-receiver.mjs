// A webhook receiver as its own process, for end-to-end tests: records every delivery (headers,
// raw body, the status it answered) as a JSON line in a file, and answers 204, or 500 while told
// to fail (POST /__mode with "fail" or "ok"). Usage: node webhook-receiver.mjs <log> [port] [mode]
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [, , logFile, portArg = '0', startMode = 'ok'] = process.argv;
let mode = startMode;
const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (request.url === '/__mode') {
      mode = body.trim();
      response.writeHead(200).end(mode);
      return;
    }
    const status = mode === 'ok' ? 204 : 500;
    const line = {
      at: Date.now(),
      status,
      path: request.url,
      headers: {
        'webhook-id': request.headers['webhook-id'],
        'webhook-timestamp': request.headers['webhook-timestamp'],
        'webhook-signature': request.headers['webhook-signature'],
        'content-type': request.headers['content-type'],
      },
      body,
    };
    appendFileSync(logFile, `${JSON.stringify(line)}\n`);
    response.writeHead(status).end();
  });
});
server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
