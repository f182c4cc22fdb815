// Kong external plugin `siem`: in the log phase, one PDK call
// (kong.log.serialize) gives the whole log object; the record built from it
// goes into a module-level queue that ships batches to the aggregator in the
// background. log() never waits on the network and never throws, so the
// plugin cannot slow or fail a request. Loaded by kong-js-pluginserver, which
// reads Name, Version, Priority, Schema and the Plugin class's phase methods.
import { parseConfig, type PluginConfig } from './config';
import { queueFor, type DeliveryQueue } from './queue';
import { recordFromSerialized } from './record';
import { SCHEMA } from './schema';
import { installShutdownHooks } from './shutdown';
import { rateLimitedWarn } from './warn';

export const Name = 'siem';
export const Version = '0.1.0';
// Below every bundled auth plugin (key-auth 1250 ... hmac-auth 1030, acl 950)
// and near the bundled loggers (http-log 12, file-log 9): the consumer and
// credential are known by the time this runs.
export const Priority = 11;
export const Schema = SCHEMA;

/** The part of the PDK this plugin uses. serialize() is a JSON string through the plugin server. */
export interface SiemKong {
  log: { serialize(): Promise<unknown> };
}

const warnUnhashed = rateLimitedWarn('hash_credentials', 3_600_000);
const warnBadLog = rateLimitedWarn('log object');
const warnLogError = rateLimitedWarn('log phase');
const warnBadUrl = rateLimitedWarn('config', 60_000);

export class Plugin {
  #config: PluginConfig;
  /** undefined while aggregator_url is unusable: requests are then not recorded, and say so */
  #queue: DeliveryQueue | undefined;

  constructor(config: unknown) {
    this.#config = parseConfig(config);
    const { delivery } = this.#config;
    this.#queue = delivery && queueFor(delivery);
    if (!delivery) warnBadUrl(`${this.#config.urlError}: this instance records nothing until it is fixed`);
    installShutdownHooks();
    if (this.#config.record.hashCredentials && !this.#config.record.hashKey) {
      warnUnhashed(
        'no hash_key set: credentials are fingerprinted with plain SHA-256, which anyone can recompute for a guessed credential',
      );
    }
  }

  async log(kong: SiemKong): Promise<void> {
    if (this.#queue === undefined) {
      warnBadUrl(`${this.#config.urlError}: request not recorded`);
      return;
    }
    try {
      const serialized = await kong.log.serialize();
      const record = recordFromSerialized(serialized, this.#config.record);
      if (record === undefined) {
        warnBadLog('serialized log object lacks client_ip, response.status or started_at; request not recorded');
        return;
      }
      this.#queue.push(record, this.#config.settings);
    } catch (err) {
      warnLogError(`request not recorded: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
