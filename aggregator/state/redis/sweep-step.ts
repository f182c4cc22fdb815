/**
 * A sweep's rule-state write for one entity (an IP key or a credential),
 * made only while the entity has had no record since the sweep read it. The
 * sweep reads the clock, then the entities, then writes: another
 * aggregator's batch can land in between, with records past the sweep's
 * clock, and step the entity's rules at its own, later clock. The sweep's
 * step at the older clock is stale then, and writing it ended runs the batch
 * had just begun: their next record began them again, later (a test caught
 * `since` seconds late on a second aggregator).
 *
 * KEYS: the entity's last-seen index, the rule's candidate set, the entity's
 * rule-state hash. ARGV: the member, the rule type, the newest ts the sweep
 * read (-1: none), 1 to leave the candidate set, the run to write ('' deletes
 * the field). Returns 1 when written.
 */
export const SWEEP_STEP = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (s and tonumber(s) or -1) ~= tonumber(ARGV[3]) then return 0 end
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[1]) end
if ARGV[5] == '' then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HSET', KEYS[3], ARGV[2], ARGV[5]) end
return 1
`;
