// POST /v1/records: validate each record on its own, keep the good ones,
// count the rest by reason (docs/api.md, "Ingest").
import Ajv from 'ajv';
import type { FastifyPluginAsync } from 'fastify';
import { DROPPED_MAX, wellFormed } from '../../common/limits';
import type { Config } from '../config';
import { errors } from '../errors';
import type { SiemMetrics } from '../metrics';
import type { RejectionLog } from '../rejections';
import type { KeyedRecord, RejectReason, SiemState } from '../state/state';
import { keyRecord } from '../validate-record';
import type { IgnoredSettingsLog } from '../settings-log';
import { bearer } from '../auth';
import { BATCH_ID_MAX, type BatchLedger } from '../batch-ledger';

export interface IngestDeps {
  config: Pick<Readonly<Config>, 'ingestToken' | 'maxBatchRecords' | 'ipv6Prefix' | 'settingsSource'>;
  state: Pick<SiemState, 'apply' | 'applySettings' | 'sharedBatchIds'>;
  metrics: Pick<SiemMetrics, 'received' | 'rejected' | 'senderDropped'>;
  batches: BatchLedger;
  /** where rejections are logged with a sample (none: not logged) */
  rejections?: RejectionLog;
  /** (SIEM_SETTINGS=locked) where ignored batch settings are told */
  ignoredSettings?: IgnoredSettingsLog;
}

export interface IngestAnswer {
  accepted: number;
  rejected: number;
  /** rejected records by reason, present whenever rejected > 0 */
  rejected_by?: Partial<Record<RejectReason, number>>;
  duplicate?: true;
}

const BODY_SCHEMA = {
  type: 'object',
  required: ['records'],
  properties: {
    records: { type: 'array' },
    settings: { type: 'object' },
    dropped: { type: 'integer', minimum: 0, maximum: DROPPED_MAX },
    // any string of at most 64 code points; an empty one is no id (see the handler)
    batch: { type: 'string', maxLength: BATCH_ID_MAX },
  },
} as const;

// The body is checked as sent: fastify's own Ajv coerces types, which turned
// `"records": 5` into `[5]` and `"dropped": "7"` into 7.
const strictAjv = new Ajv({ coerceTypes: false, allErrors: false });

/**
 * Validate and apply raw records; shared by /v1/records and /v1/kong-log.
 * `skipped`: entries the caller received but already set aside, by reason
 * (a Kong stream log), counted as received and rejected like the rest.
 * `batch`: the sender's id, for a state that keeps batch ids itself
 * (sharedBatchIds): a duplicate is answered as such and counts nothing.
 */
export async function ingestRecords(
  deps: Omit<IngestDeps, 'batches'>,
  raw: readonly unknown[],
  settings?: Record<string, unknown>,
  skipped: Partial<Record<RejectReason, number>> = {},
  batch?: string,
): Promise<IngestAnswer> {
  const { config, state, metrics, rejections, ignoredSettings } = deps;
  const byReason: Partial<Record<RejectReason, number>> = { ...skipped };
  /** one rejected input per reason, for the log */
  const samples: Partial<Record<RejectReason, () => unknown>> = {};
  let bad = 0;
  for (const n of Object.values(byReason)) bad += n;
  // counted once the state has taken the batch (or refused it): a duplicate is not received twice
  const received = raw.length + bad;
  if (settings && config.settingsSource === 'locked') {
    // Only the settings are ignored: the records are counted as usual, and
    // nothing is rejected (a plugin sends its settings with every batch).
    ignoredSettings?.note(Object.keys(settings));
  } else if (settings) {
    // service names as records name them: lone surrogates replaced first
    // no prototype: a service named __proto__ is a key like any other
    const named: Record<string, unknown> = Object.create(null);
    for (const [name, value] of Object.entries(settings)) named[wellFormed(name)] = value;
    for (const name of await state.applySettings(named)) {
      byReason.settings = (byReason.settings ?? 0) + 1;
      samples.settings ??= () => ({ service: name, settings: named[name] });
    }
  }
  const good: KeyedRecord[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const c = keyRecord(r, config.ipv6Prefix);
    if (typeof c !== 'string') good.push(c);
    else {
      bad++;
      byReason[c] = (byReason[c] ?? 0) + 1;
      samples[c] ??= () => r;
    }
  }
  let applied: Awaited<ReturnType<typeof state.apply>>;
  try {
    applied = await state.apply(good, batch, (reason, i) => {
      samples[reason] ??= () => good[i];
    });
  } catch (err) {
    metrics.received.inc(received);
    throw err;
  }
  if (applied.duplicate) return { accepted: 0, rejected: 0, duplicate: true };
  metrics.received.inc(received);
  for (const [reason, n] of Object.entries(applied.rejected)) {
    byReason[reason as RejectReason] = (byReason[reason as RejectReason] ?? 0) + n;
    bad += n;
  }
  for (const [reason, n] of Object.entries(byReason) as [RejectReason, number][]) {
    metrics.rejected.inc({ reason }, n);
    rejections?.note(reason, n, samples[reason] ?? (() => undefined));
  }
  const answer: IngestAnswer = { accepted: applied.accepted, rejected: bad };
  if (bad > 0) answer.rejected_by = byReason;
  return answer;
}

/** The answer to a batch whose id was accepted before (a retry after a lost answer). */
const DUPLICATE = Object.freeze({ accepted: 0, rejected: 0, duplicate: true });

export const RECORDS_URL = '/v1/records';

export const ingestRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.post<{ Body: { records: unknown[]; settings?: Record<string, unknown>; dropped?: number; batch?: string } }>(
    RECORDS_URL,
    {
      schema: { body: BODY_SCHEMA },
      validatorCompiler: ({ schema }) => strictAjv.compile(schema),
      onRequest: bearer(deps.config.ingestToken),
    },
    async (req, reply) => {
      const { records, settings, dropped } = req.body;
      // An empty id names no batch: taken as one, every later batch sent
      // with "" would be answered as the first one's duplicate and lost.
      const batch = req.body.batch === '' ? undefined : req.body.batch;
      if (records.length > deps.config.maxBatchRecords) throw errors.tooManyRecords(deps.config.maxBatchRecords);
      if (deps.state.sharedBatchIds) {
        // the state stores the id with the batch, in one step, for every aggregator sharing it
        const result = await ingestRecords(deps, records, settings, {}, batch);
        if (result.duplicate) return reply.code(202).send(DUPLICATE);
        if (dropped) deps.metrics.senderDropped.inc(dropped);
        return reply.code(202).send(result);
      }
      if (batch !== undefined) {
        const claim = await deps.batches.claim(batch);
        if (claim === 'duplicate') return reply.code(202).send(DUPLICATE);
        if (claim === 'busy') throw errors.batchBusy(batch);
      }
      let result: Awaited<ReturnType<typeof ingestRecords>>;
      try {
        result = await ingestRecords(deps, records, settings);
      } catch (err) {
        // nothing accepted (the state refused the batch): a retry must be stored
        if (batch !== undefined) await deps.batches.release(batch);
        throw err;
      }
      if (batch !== undefined) await deps.batches.accept(batch);
      if (dropped) deps.metrics.senderDropped.inc(dropped);
      return reply.code(202).send(result);
    },
  );
};
