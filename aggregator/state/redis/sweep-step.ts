// The sweep reads the clock, then each candidate entity (an IP key or a
// credential), then writes its rule state; another aggregator's batch can
// land in between. Such a batch steps the entity's rules at its own, later
// clock: the sweep's step at the older clock is stale then, and writing it
// ended runs the batch had just begun (their next record began them again,
// later: a test caught `since` seconds late on a second aggregator). So the
// sweep reads an entity whole, in one script (SWEEP_READ), and writes a step
// only while neither the entity's last-seen score nor the rule's state field
// has changed since (SWEEP_STEP).

/**
 * KEYS: the entity's last-seen index, its rule-state hash, its data (an IP
 * key's history hash, or a credential's IP sorted set). ARGV: the member,
 * 'h' (hash) or 'z' (sorted set). Returns the score (false: none), the
 * rule-state fields (flat), the data (flat: fields, or members WITHSCORES).
 */
export const SWEEP_READ = `
local data
if ARGV[2] == 'h' then data = redis.call('HGETALL', KEYS[3]) else data = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES') end
return {redis.call('ZSCORE', KEYS[1], ARGV[1]), redis.call('HGETALL', KEYS[2]), data}
`;

/**
 * KEYS: the entity's last-seen index, the rule's candidate set, the entity's
 * rule-state hash. ARGV: the member, the rule type, the newest ts the sweep
 * read (-1: none), the rule's field as read ('' none), 1 to leave the
 * candidate set, the run to write ('' deletes the field). Returns 1 when
 * written.
 */
export const SWEEP_STEP = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (s and tonumber(s) or -1) ~= tonumber(ARGV[3]) then return 0 end
if (redis.call('HGET', KEYS[3], ARGV[2]) or '') ~= ARGV[4] then return 0 end
if ARGV[5] == '1' then redis.call('SREM', KEYS[2], ARGV[1]) end
if ARGV[6] == '' then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HSET', KEYS[3], ARGV[2], ARGV[6]) end
return 1
`;
