// What `kong.log.serialize()` hands the plugin, to a record. Through the
// plugin server it is a JSON string (Kong cjson-encodes the log object before
// msgpack: Kong/kong kong/runloop/plugin_servers/plugin.lua), not the
// Promise<null> of kong-pdk's log.d.ts; an already-decoded object is taken
// too. The field mapping itself is common/kong-log.ts, shared with the
// aggregator's /v1/kong-log, so both paths build the same record.
import { recordFromKongLog, type RecordOptions } from '../../common/kong-log';
import type { SiemRecord } from '../../common/record';

/** The record of one serialized log object, or undefined when it cannot make one. Never throws. */
export function recordFromSerialized(serialized: unknown, opts: Readonly<RecordOptions>): SiemRecord | undefined {
  let log = serialized;
  if (typeof serialized === 'string') {
    try {
      log = JSON.parse(serialized);
    } catch {
      return undefined;
    }
  }
  try {
    return recordFromKongLog(log, opts);
  } catch {
    // recordFromKongLog does not throw by design; this keeps log() safe if it ever does.
    return undefined;
  }
}
