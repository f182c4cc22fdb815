// Why the aggregator could not start, as one line that names the variable to
// change: a stack trace tells an operator nothing about SIEM_PORT.
import type { Config } from './config';

type StartConfig = Pick<Readonly<Config>, 'host' | 'port' | 'stateFile'>;

export function startErrorLine(err: unknown, config: StartConfig): string {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  const at = `cannot listen on ${config.host}:${config.port}`;
  switch (e?.code) {
    case 'EADDRINUSE':
      return `${at}: the port is in use by another process (EADDRINUSE); set SIEM_PORT to a free port, or stop that process`;
    case 'EACCES':
      if (e.syscall === 'listen' || e.syscall === 'bind')
        return `${at}: permission denied (EACCES; ports below 1024 need privileges); set SIEM_PORT to 1024 or above`;
      break;
    case 'EADDRNOTAVAIL':
      return `${at}: ${config.host} is not an address of this machine (EADDRNOTAVAIL); set SIEM_HOST to one of its addresses, or 0.0.0.0 for all`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${at}: the host name ${config.host} does not resolve (${e.code}); set SIEM_HOST to an address`;
  }
  if (config.stateFile !== undefined && e?.path === config.stateFile) {
    return `cannot read the state snapshot SIEM_STATE_FILE=${config.stateFile} (${e.code ?? e.message}); fix its permissions or set SIEM_STATE_FILE to another path`;
  }
  const message = (e instanceof Error ? e.message : String(err)).split('\n')[0];
  return `cannot start: ${message}`;
}
