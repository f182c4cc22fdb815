// `npm start`: the aggregator with SIEM_* configuration from the environment.
import { loadConfig } from './config';
import { buildApp } from './app';

export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    process.stderr.write(`kong-siem: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const { app } = buildApp(config);
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
  await app.listen({ host: config.host, port: config.port });
}

if (require.main === module) {
  serve().catch((err) => {
    process.stderr.write(`kong-siem: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
