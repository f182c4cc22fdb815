// `npm start`: the aggregator with SIEM_* configuration from the environment.
import { loadConfig, unknownVariableWarnings } from './config';
import { buildApp } from './app';
import { startErrorLine } from './start-error';

export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    process.stderr.write(`kong-siem: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const { app } = buildApp(config);
  for (const w of unknownVariableWarnings(env)) app.log.warn(w);
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    // close() stops accepting, then waits for in-flight requests.
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // one line naming what to change (the log has the details at debug level)
    app.log.debug({ err }, 'start failed');
    process.stderr.write(`kong-siem: ${startErrorLine(err, config)}\n`);
    process.exit(1);
  }
}

if (require.main === module) {
  serve().catch((err) => {
    process.stderr.write(`kong-siem: cannot start: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  });
}
