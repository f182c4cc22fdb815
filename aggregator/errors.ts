// Every error the API answers with, its status and message, in one place.
// Bodies are always `{"error": "..."}` (docs/api.md, "Errors").
export class SiemError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'SiemError';
  }
}

export const errors = {
  unauthorized: () => new SiemError('SIEM_UNAUTHORIZED', 401, 'missing or wrong bearer token'),
  badJson: (why: string) => new SiemError('SIEM_BAD_JSON', 400, `malformed JSON body: ${why}`),
  badGzip: () => new SiemError('SIEM_BAD_GZIP', 400, 'body is not valid gzip'),
  bodyTooLarge: (limit: number) =>
    new SiemError('SIEM_BODY_TOO_LARGE', 413, `body over ${limit} bytes (SIEM_MAX_BODY_BYTES), after decompression`),
  tooManyRecords: (limit: number) => new SiemError('SIEM_TOO_MANY_RECORDS', 413, `batch over ${limit} records (SIEM_MAX_BATCH_RECORDS)`),
  unsupportedMediaType: (type: string) =>
    new SiemError(
      'SIEM_UNSUPPORTED_MEDIA_TYPE',
      415,
      `unsupported Content-Type ${JSON.stringify(type)}: send application/json (optionally with Content-Encoding: gzip)`,
    ),
  unsupportedEncoding: (enc: string) =>
    new SiemError('SIEM_UNSUPPORTED_ENCODING', 415, `unsupported Content-Encoding "${enc}": use gzip or none`),
  redactedCredentialHeader: (name: string) =>
    new SiemError(
      'SIEM_REDACTED_CREDENTIAL_HEADER',
      400,
      `credential_header "${name}" cannot be a credential source: Kong's log serializer replaces authorization and proxy-authorization values with REDACTED, so every client would share one credential`,
    ),
  batchBusy: (id: string) => new SiemError('SIEM_BATCH_BUSY', 503, `batch ${JSON.stringify(id)} is being stored by another request: retry`),
  notKongLog: () => new SiemError('SIEM_BAD_KONG_LOG', 400, 'body must be a Kong log object or an array of them'),
  /** The shared state (Redis) cannot be reached: 503 so that senders retry the batch. */
  stateUnavailable: (why: string) => new SiemError('SIEM_STATE_UNAVAILABLE', 503, `state backend unavailable: ${why}`),
} as const;

/** A bug in this process (a wrong type, a bad index), not a failure of the store it called: never answered as 503. */
export function isProgrammingError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError;
}

/** Status codes of errors fastify itself raises, mapped to our body shape. */
export function statusOf(err: { statusCode?: number; validation?: unknown }): number {
  if (err.validation) return 400;
  const s = err.statusCode;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : 500;
}
