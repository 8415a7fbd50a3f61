#!/usr/bin/env node
// kinema cloud proxy: holds provider keys server-side so browsers never see them.
//   npm run proxy -- [--port 8787] [--host 127.0.0.1]
// Env: DASHSCOPE_API_KEY, MODELSLAB_API_KEY, KINEMA_DASHSCOPE_BASE_URL, KINEMA_MODELSLAB_BASE_URL,
//      KINEMA_PROXY_TOKEN, KINEMA_PROXY_ORIGINS, KINEMA_PROXY_VIDEO_HOSTS. See docs/cloud.md.
import { parseArgs } from 'node:util';

const USAGE = 'usage: kinema-proxy [--port N] [--host H]   (default 127.0.0.1:8787; keys from env, see docs/cloud.md)';

let values;
try {
  ({ values } = parseArgs({
    options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
  console.error(`--port must be an integer 0..65535 (got ${values.port})\n${USAGE}`);
  process.exit(2);
}

let proxy;
try {
  proxy = await import('../dist/node/proxy.js');
} catch (error) {
  console.error(`cannot load dist/node/proxy.js (${error.message}); run \`npm run build\` first`);
  process.exit(1);
}
const running = await proxy.startProxy({ port, host: values.host });
const stop = () => running.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
