// POST /v1/kong-log: Kong's bundled http-log plugin as the sender
// (docs/api.md). Its body is `kong.log.serialize()`: one log object,
// or an array of them when its queue batches. http-log sends no settings, so
// the credential source comes from the query string or a header (http-log's
// `headers` option can set one); detection settings are the aggregator's.
// Credentials arrive raw and are fingerprinted here as the plugin would.
import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config';
import {
  CREDENTIAL_SOURCES,
  DEFAULT_CREDENTIAL_HEADER,
  isRedactedHeader,
  isStreamLog,
  recordFromKongLog,
  type CredentialSource,
  type RecordOptions,
} from '../../common/kong-log';
import { bearer } from '../auth';
import { errors } from '../errors';
import { ingestRecords, type IngestDeps } from './ingest';

export const CREDENTIAL_SOURCE_HEADER = 'x-siem-credential-source';
export const CREDENTIAL_HEADER_HEADER = 'x-siem-credential-header';

// RFC 9110 token: what a header name may be.
const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$";

const QUERY_SCHEMA = {
  type: 'object',
  properties: {
    credential_source: { type: 'string', enum: [...CREDENTIAL_SOURCES] },
    credential_header: { type: 'string', pattern: HEADER_NAME },
  },
} as const;

const HEADERS_SCHEMA = {
  type: 'object',
  properties: {
    [CREDENTIAL_SOURCE_HEADER]: { type: 'string', enum: [...CREDENTIAL_SOURCES] },
    [CREDENTIAL_HEADER_HEADER]: { type: 'string', pattern: HEADER_NAME },
  },
} as const;

interface KongLogRequest {
  Querystring: { credential_source?: CredentialSource; credential_header?: string };
  Headers: Record<string, string | undefined>;
  Body: unknown;
}

/** Ingest's, plus how credentials are fingerprinted here. */
export interface KongLogDeps extends IngestDeps {
  config: IngestDeps['config'] & Pick<Readonly<Config>, 'hashCredentials' | 'hashKey' | 'successStatuses'>;
}

export const KONG_LOG_URL = '/v1/kong-log';

export const kongLogRoutes: FastifyPluginAsync<KongLogDeps> = async (app, deps) => {
  const { config } = deps;
  app.route<KongLogRequest>({
    method: ['POST', 'PUT', 'PATCH'],
    url: KONG_LOG_URL,
    schema: { querystring: QUERY_SCHEMA, headers: HEADERS_SCHEMA },
    onRequest: bearer(config.ingestToken),
    handler: async (req, reply) => {
      const body = req.body;
      // Checked by hand, not by a schema: fastify's ajv coerces a scalar into
      // a one-element array, which would turn "text" into a batch.
      if (body === null || typeof body !== 'object') throw errors.notKongLog();
      // One log object or an array; each entry is checked on its own, so one
      // odd entry does not cost the rest of the batch.
      const logs = Array.isArray(body) ? (body as unknown[]) : [body];
      if (logs.length > config.maxBatchRecords) throw errors.tooManyRecords(config.maxBatchRecords);
      // The query string wins over the header: it is visible in kong.yml next
      // to the URL, the header may be set by some proxy on the way.
      const opts: RecordOptions = {
        credentialSource: req.query.credential_source ?? (req.headers[CREDENTIAL_SOURCE_HEADER] as CredentialSource | undefined) ?? 'auto',
        credentialHeader: req.query.credential_header ?? req.headers[CREDENTIAL_HEADER_HEADER] ?? DEFAULT_CREDENTIAL_HEADER,
        hashCredentials: config.hashCredentials,
        hashKey: config.hashKey,
        successByRoute: config.successStatuses,
      };
      if (isRedactedHeader(opts.credentialHeader)) throw errors.redactedCredentialHeader(opts.credentialHeader);
      // A log object lacking client_ip, status or started_at maps to nothing:
      // pass an empty object so that ingest rejects and counts it as invalid.
      // A stream-subsystem log is no request: counted apart, as `stream`.
      const records: unknown[] = [];
      let stream = 0;
      for (const log of logs) {
        const rec = recordFromKongLog(log, opts);
        if (rec !== undefined) records.push(rec);
        else if (isStreamLog(log)) stream++;
        else records.push({});
      }
      const result = await ingestRecords(deps, records, undefined, stream > 0 ? { stream } : {});
      return reply.code(202).send(result);
    },
  });
};
