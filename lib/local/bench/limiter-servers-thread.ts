// The thread that serves the limiter load (see limiter-servers.ts): the embedded emulators and the
// fake API, answering the main thread's requests for counters and for the stop.
import { parentPort, workerData } from 'node:worker_threads';
import { startFakeApi } from '../lab/fake-api.ts';
import { startEmulators } from '../sim/emulators.ts';
import type { LimiterServersReply, LimiterServersRequest, LimiterServersSetup } from './limiter-servers.ts';

if (parentPort === null) throw new Error('limiter-servers-thread.ts runs as a worker thread, started by startLimiterServers');
const port = parentPort;
const setup = workerData as LimiterServersSetup;
const reply = (message: LimiterServersReply): void => port.postMessage(message);

const emulators = await startEmulators();
const fakeApi = await startFakeApi({ rateLimits: setup.rateLimits });
port.on('message', (request: LimiterServersRequest) => {
  if (request.kind === 'counters') {
    reply({ kind: 'counters', counters: fakeApi.stats().byDestination[request.destination] ?? null });
    return;
  }
  void Promise.all([fakeApi.stop(), emulators.stop()]).then(() => {
    reply({ kind: 'stopped' });
    port.close();
  });
});
reply({ kind: 'ready', dynamodbEndpoint: emulators.dynamodbEndpoint, fakeApiUrl: fakeApi.url });
