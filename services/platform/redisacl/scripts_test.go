package redisacl_test

import "github.com/redis/go-redis/v9"

// Scripts that make, as a service's user, the calls bayes' own scripts
// make (its commit, the model lifecycle, the safe trim, the pub/sub
// bridge's fenced forward): every redis.call inside EVAL is checked against
// the caller's ACL, so each must pass for bayes' user and fail for the
// api's. Shared by the one-server and the cluster tests.
var (
	commitProbe = redis.NewScript(`
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'source_id', ARGV[2], 'reason', 'test')
redis.call('HINCRBY', KEYS[3], 'w', 1)
local n = redis.call('HINCRBY', KEYS[3], 'n', 1)
local s = redis.call('HMGET', KEYS[3], 'w', 'n')
return {acked, n, s[1]}`)
	lifecycleProbe = redis.NewScript(`
redis.call('GET', KEYS[4])
if redis.call('SCARD', KEYS[2]) < 100 then
  redis.call('SET', KEYS[4], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], 0, ARGV[2])
end
if redis.call('EXISTS', KEYS[5]) == 0 then redis.call('INCR', KEYS[5]) end
redis.call('HSET', KEYS[1], 'w', 0, 'n', 0, 'e', redis.call('INCR', KEYS[5]))
redis.call('HGET', KEYS[1], 'e')
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return redis.call('INCR', KEYS[5])`)
	trimProbe = redis.NewScript(`
redis.call('XINFO', 'GROUPS', KEYS[1])
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], 'gone')
return redis.call('XTRIM', KEYS[1], 'MINID', p[2] or '0')`)
	forwardProbe = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], 5000)
return redis.call('XADD', KEYS[2], '*', 'trial', 'w', 'source', 'pubsub')`)
)
