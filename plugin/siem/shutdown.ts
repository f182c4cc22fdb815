// Clean shutdown: on SIGTERM/SIGINT (Kong stopping its plugin server, or
// `docker stop`) send what the queues hold, within a deadline, then die of the
// same signal as if no handler had been installed. Installed once, when the
// first queue exists, so merely loading the module (`--dump-all-plugins`, a
// unit test) changes nothing.
import { allQueues } from './queue';
import { warn } from './warn';

/** Time given to the final flush; container runtimes wait ~10 s before SIGKILL. */
export const SHUTDOWN_DEADLINE_MS = 5000;

let installed = false;

export async function flushAll(deadlineMs = SHUTDOWN_DEADLINE_MS): Promise<number> {
  const left = await Promise.all(allQueues().map((q) => q.close(deadlineMs)));
  return left.reduce((a, b) => a + b, 0);
}

export function installShutdownHooks(): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals) => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    flushAll()
      .then((left) => {
        if (left > 0) warn(`shutdown: ${left} records not delivered`);
      })
      .catch((err) => warn(`shutdown: ${(err as Error).message}`))
      .finally(() => process.kill(process.pid, signal));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
