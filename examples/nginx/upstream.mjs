// The API behind the gateway in these examples: answers every request with what it received
// (method, URL, headers) as JSON, so you can see which consumer headers the gateway set and that
// the key never arrived, and how many requests it has seen (`seen`, this one included). `PORT=9000 node upstream.mjs`; PORT=0 picks a free port.
import { createServer } from 'node:http';

let seen = 0;
const server = createServer((request, response) => {
  request.resume();
  seen++;
  const body = JSON.stringify({ method: request.method, url: request.url, headers: request.headers, seen });
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
});
server.keepAliveTimeout = 75_000;
server.listen(Number(process.env.PORT ?? 9000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`upstream listening on port ${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)).closeAllConnections());
