/**
 * The commands a guest may run, by name: data commands on keys (strings, keys, sets, hashes,
 * lists, sorted sets, streams without blocking), PUBLISH, PING and ECHO. Everything else is
 * refused before it leaves the worker — notably whatever administers the server (CONFIG,
 * SHUTDOWN, DEBUG, ACL, CLIENT, REPLICAOF, SAVE, MODULE), wipes or walks the keyspace (FLUSHALL,
 * FLUSHDB, KEYS, SCAN, RANDOMKEY), runs code (EVAL, SCRIPT, FUNCTION, FCALL), reaches another
 * database (SELECT, MOVE, COPY, SWAPDB), or changes a pooled connection's state or holds it
 * (MULTI/EXEC/WATCH, SUBSCRIBE, MONITOR, blocking pops, WAIT). docs/data.md lists them.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  strings: ['GET', 'SET', 'SETNX', 'SETEX', 'PSETEX', 'GETSET', 'GETDEL', 'GETEX', 'GETRANGE', 'SETRANGE', 'MGET', 'MSET', 'MSETNX', 'APPEND', 'STRLEN', 'INCR', 'INCRBY', 'INCRBYFLOAT', 'DECR', 'DECRBY'],
  keys: ['DEL', 'UNLINK', 'EXISTS', 'EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT', 'EXPIRETIME', 'PEXPIRETIME', 'TTL', 'PTTL', 'PERSIST', 'TYPE', 'TOUCH', 'RENAME', 'RENAMENX'],
  sets: ['SADD', 'SREM', 'SMEMBERS', 'SISMEMBER', 'SMISMEMBER', 'SCARD', 'SPOP', 'SRANDMEMBER', 'SMOVE', 'SINTER', 'SINTERCARD', 'SINTERSTORE', 'SUNION', 'SUNIONSTORE', 'SDIFF', 'SDIFFSTORE', 'SSCAN'],
  hashes: ['HSET', 'HSETNX', 'HMSET', 'HGET', 'HMGET', 'HGETALL', 'HDEL', 'HEXISTS', 'HINCRBY', 'HINCRBYFLOAT', 'HKEYS', 'HVALS', 'HLEN', 'HSTRLEN', 'HRANDFIELD', 'HSCAN'],
  lists: ['LPUSH', 'RPUSH', 'LPUSHX', 'RPUSHX', 'LPOP', 'RPOP', 'LRANGE', 'LLEN', 'LINDEX', 'LSET', 'LINSERT', 'LREM', 'LTRIM', 'LPOS', 'LMOVE', 'RPOPLPUSH'],
  'sorted sets': ['ZADD', 'ZREM', 'ZSCORE', 'ZMSCORE', 'ZINCRBY', 'ZCARD', 'ZCOUNT', 'ZLEXCOUNT', 'ZRANGE', 'ZRANGEBYSCORE', 'ZRANGEBYLEX', 'ZREVRANGE', 'ZREVRANGEBYSCORE', 'ZREVRANGEBYLEX', 'ZRANK', 'ZREVRANK', 'ZPOPMIN', 'ZPOPMAX', 'ZREMRANGEBYSCORE', 'ZREMRANGEBYRANK', 'ZREMRANGEBYLEX', 'ZSCAN'],
  streams: ['XADD', 'XLEN', 'XRANGE', 'XREVRANGE', 'XDEL', 'XTRIM'],
  'hyperloglogs': ['PFADD', 'PFCOUNT', 'PFMERGE'],
  other: ['PUBLISH', 'PING', 'ECHO'],
};

export const ALLOWED_COMMANDS: ReadonlySet<string> = new Set(Object.values(ALLOWED).flat());

/** The groups and their commands, for docs and error messages. */
export const ALLOWED_COMMAND_GROUPS = ALLOWED;

/**
 * Why a command is refused, for the few that are asked for most, so the log says what to do
 * instead; any other command outside the allow-list gets the generic sentence.
 */
export const REFUSED_BECAUSE: Readonly<Record<string, string>> = {
  CONFIG: 'it administers the server',
  FLUSHALL: 'it wipes every database',
  FLUSHDB: 'it wipes the database',
  KEYS: 'it walks the whole keyspace (use a set of your keys, or SSCAN/HSCAN on one)',
  SCAN: 'it walks the whole keyspace (use a set of your keys, or SSCAN/HSCAN on one)',
  SCRIPT: 'it runs code on the server',
  EVAL: 'it runs code on the server',
  EVALSHA: 'it runs code on the server',
  FUNCTION: 'it runs code on the server',
  FCALL: 'it runs code on the server',
  SHUTDOWN: 'it stops the server',
  DEBUG: 'it administers the server',
  SELECT: 'it changes the database of a pooled connection (put the database in the URL: redis://host:6379/2)',
  MULTI: 'a transaction would span pooled connections; each command runs on its own',
  EXEC: 'a transaction would span pooled connections; each command runs on its own',
  WATCH: 'a transaction would span pooled connections; each command runs on its own',
  SUBSCRIBE: 'it takes over the connection (use a [[trigger.redis]] to receive messages)',
  PSUBSCRIBE: 'it takes over the connection (use a [[trigger.redis]] to receive messages)',
  MONITOR: 'it takes over the connection and shows every client\'s commands',
  BLPOP: 'it blocks a pooled connection',
  BRPOP: 'it blocks a pooled connection',
  AUTH: 'the credentials belong in the connection URL',
};
