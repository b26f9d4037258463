"""Redis's command table, as data: arity, flags, key positions, ACL categories and docs
of every command and subcommand, and dynotwist's routing decision for each.

Generated in part: the columns name, arity, flags, first/last/step key positions and
ACL categories, and the COMMAND DOCS block, come from a live redis-server 7.0 through
``scripts/gen_commands.py`` (``--table``, ``--docs``; ``--check`` compares this table
with a live server). The routing column, the read/write overrides and the refusal
reasons are dynotwist's decisions, made by hand here, with the reasons in the notes
below. ``dynotwist.proto.commands`` reads these texts into its specs at import.
"""

# -- the table -----------------------------------------------------------------------------
#
# One line per command or subcommand ("container|sub"), grouped by Redis's COMMAND DOCS
# group ("[group]" lines), Redis 7.0's data:
#
#   name  arity  flags  first last step  route  [options]
#
# flags, one letter each, Redis's order:
#   w write  r readonly  m denyoom  a admin  p pubsub  s noscript  B blocking  l loading
#   t stale  M skip_monitor  L skip_slowlog  k asking  F fast  N no_auth  K no_mandatory_keys
#   A no_async_loading  X no_multi  v movablekeys  b allow_busy  (- = none)
# route:
#   single  frag (MULTI_FRAGMENT)  coloc (MULTI_COLOCATED)  local (LOCAL_DATASTORE)
#   rack (LOCAL_RACK_OWNER)  rackall (LOCAL_RACK_ALL)  all (ALL_NODES)  node (NODE)
#   no:<reason> (UNSUPPORTED)
#   sub: a container resolved by its subcommand (UNSUPPORTED "unknown subcommand" itself)
# options:
#   read | write      override Redis's write flag: classify by what the command does
#   nk=<i>/<style>    argument i is numkeys, the keys follow it; style picks the error texts
#   x=<special>       option-dependent keys and/or class (see ``_SPECIALS`` in ``commands``)
#   @cat ...          ACL categories beyond those Redis implies from the flags; when absent
#                     the group's own category (@string for [string], ...) is used
#
# Decisions where Redis's flag and dynotwist's classification differ (Dynomite had TTL,
# PTTL and PFCOUNT as writes and SUNIONSTORE/ZUNIONSTORE/ZINTERSTORE as reads):
#   SORT, GEORADIUS, GEORADIUSBYMEMBER: reads unless STORE/STOREDIST is given;
#   BITFIELD: a read when it has only GET/OVERFLOW operations;
#   EVAL, EVALSHA, FCALL: writes (the *_RO variants are reads).
# Routing decisions beyond Dynomite's:
#   KEYS, SCAN, DBSIZE and RANDOMKEY cover every node of the local rack (rackall);
#   server introspection that reads (CONFIG GET, TIME, LASTSAVE, ROLE,
#   SLOWLOG GET/LEN, LATENCY reads, MEMORY STATS/DOCTOR/MALLOC-STATS, FUNCTION LIST/DUMP/
#   STATS, LOLWUT) and every container's HELP go to the local datastore; whatever changes
#   the server (CONFIG SET, SLOWLOG RESET, LATENCY RESET, MEMORY PURGE...) is refused;
#   keyed introspection (OBJECT *, MEMORY USAGE, XINFO *) goes to the key's owner;
#   CLIENT ID/INFO/LIST/SETNAME/GETNAME/SETINFO and INFO are the node's own (datastore
#   connections are shared, so the datastore's answer would describe the proxy, not
#   the client; INFO's keyspace is summed over the local rack); MULTI/EXEC/DISCARD are
#   the node's (a transaction is queued there and runs as one unit where its keys live),
#   WATCH is refused;
#   FUNCTION KILL goes to every node like SCRIPT KILL; FUNCTION LOAD/DELETE/FLUSH/RESTORE
#   are refused (a partial failure would silently leave nodes with different libraries).
# Wholly refused containers (ACL, CLUSTER, MODULE, PUBSUB) list no subcommands.

TABLE = """
[generic]
copy                   -3  wm       1  2 1  coloc  x=copy
del                    -2  w        1 -1 1  frag
dump                    2  r        1  1 1  single
exists                 -2  rF       1 -1 1  frag
expire                 -3  wF       1  1 1  single
expireat               -3  wF       1  1 1  single
expiretime              2  rF       1  1 1  single
keys                    2  r        0  0 0  rackall  @keyspace @dangerous
migrate                -6  wv       3  3 1  no:placement  @keyspace @dangerous
move                    3  wF       1  1 1  no:db
object                 -2  -        0  0 0  sub
object|encoding         3  r        2  2 1  single
object|freq             3  r        2  2 1  single
object|help             2  lt       0  0 0  local
object|idletime         3  r        2  2 1  single
object|refcount         3  r        2  2 1  single
persist                 2  wF       1  1 1  single
pexpire                -3  wF       1  1 1  single
pexpireat              -3  wF       1  1 1  single
pexpiretime             2  rF       1  1 1  single
pttl                    2  rF       1  1 1  single
randomkey               1  r        0  0 0  rackall
rename                  3  w        1  2 1  coloc
renamenx                3  wF       1  2 1  coloc
restore                -4  wm       1  1 1  single  @keyspace @dangerous
scan                   -2  r        0  0 0  rackall
sort                   -2  wmv      1  1 1  single  read x=sort  @set @sortedset @list @dangerous
sort_ro                -2  rv       1  1 1  single  @set @sortedset @list @dangerous
touch                  -2  rF       1 -1 1  frag
ttl                     2  rF       1  1 1  single
type                    2  rF       1  1 1  single
unlink                 -2  wF       1 -1 1  frag
wait                    3  s        0  0 0  no:wait  @connection

[string]
append                  3  wmF      1  1 1  single
decr                    2  wmF      1  1 1  single
decrby                  3  wmF      1  1 1  single
get                     2  rF       1  1 1  single
getdel                  2  wF       1  1 1  single
getex                  -2  wF       1  1 1  single
getrange                4  r        1  1 1  single
getset                  3  wmF      1  1 1  single
incr                    2  wmF      1  1 1  single
incrby                  3  wmF      1  1 1  single
incrbyfloat             3  wmF      1  1 1  single
lcs                    -3  r        1  2 1  coloc
mget                   -2  rF       1 -1 1  frag
mset                   -3  wm       1 -1 2  frag
msetnx                 -3  wm       1 -1 2  coloc
psetex                  4  wm       1  1 1  single
set                    -3  wm       1  1 1  single
setex                   4  wm       1  1 1  single
setnx                   3  wmF      1  1 1  single
setrange                4  wm       1  1 1  single
strlen                  2  rF       1  1 1  single
substr                  4  r        1  1 1  single

[bitmap]
bitcount               -2  r        1  1 1  single
bitfield               -2  wm       1  1 1  single  x=bitfield
bitfield_ro            -2  rF       1  1 1  single
bitop                  -4  wm       2 -1 1  coloc
bitpos                 -3  r        1  1 1  single
getbit                  3  rF       1  1 1  single
setbit                  4  wm       1  1 1  single

[hash]
hdel                   -3  wF       1  1 1  single
hexists                 3  rF       1  1 1  single
hget                    3  rF       1  1 1  single
hgetall                 2  r        1  1 1  rack
hincrby                 4  wmF      1  1 1  single
hincrbyfloat            4  wmF      1  1 1  single
hkeys                   2  r        1  1 1  rack
hlen                    2  rF       1  1 1  single
hmget                  -3  rF       1  1 1  single
hmset                  -4  wmF      1  1 1  single
hrandfield             -2  r        1  1 1  single
hscan                  -3  r        1  1 1  rack
hset                   -4  wmF      1  1 1  single
hsetnx                  4  wmF      1  1 1  single
hstrlen                 3  rF       1  1 1  single
hvals                   2  r        1  1 1  rack

[list]
blmove                  6  wmsB     1  2 1  no:blocking
blmpop                 -5  wBv      0  0 0  no:blocking  nk=2/mpop
blpop                  -3  wsB      1 -2 1  no:blocking
brpop                  -3  wsB      1 -2 1  no:blocking
brpoplpush              4  wmsB     1  2 1  no:blocking
lindex                  3  r        1  1 1  single
linsert                 5  wm       1  1 1  single
llen                    2  rF       1  1 1  single
lmove                   5  wm       1  2 1  coloc
lmpop                  -4  wv       0  0 0  coloc  nk=1/mpop
lpop                   -2  wF       1  1 1  single
lpos                   -3  r        1  1 1  single
lpush                  -3  wmF      1  1 1  single
lpushx                 -3  wmF      1  1 1  single
lrange                  4  r        1  1 1  single
lrem                    4  w        1  1 1  single
lset                    4  wm       1  1 1  single
ltrim                   4  w        1  1 1  single
rpop                   -2  wF       1  1 1  single
rpoplpush               3  wm       1  2 1  coloc
rpush                  -3  wmF      1  1 1  single
rpushx                 -3  wmF      1  1 1  single

[set]
sadd                   -3  wmF      1  1 1  single
scard                   2  rF       1  1 1  single
sdiff                  -2  r        1 -1 1  coloc
sdiffstore             -3  wm       1 -1 1  coloc
sinter                 -2  r        1 -1 1  coloc
sintercard             -3  rv       0  0 0  coloc  nk=1/sintercard
sinterstore            -3  wm       1 -1 1  coloc
sismember               3  rF       1  1 1  single
smembers                2  r        1  1 1  single
smismember             -3  rF       1  1 1  single
smove                   4  wF       1  2 1  coloc
spop                   -2  wF       1  1 1  single
srandmember            -2  r        1  1 1  single
srem                   -3  wF       1  1 1  single
sscan                  -3  r        1  1 1  rack
sunion                 -2  r        1 -1 1  coloc
sunionstore            -3  wm       1 -1 1  coloc

[sorted-set]
bzmpop                 -5  wBv      0  0 0  no:blocking  nk=2/mpop
bzpopmax               -3  wsBF     1 -2 1  no:blocking
bzpopmin               -3  wsBF     1 -2 1  no:blocking
zadd                   -4  wmF      1  1 1  single
zcard                   2  rF       1  1 1  single
zcount                  4  rF       1  1 1  single
zdiff                  -3  rv       0  0 0  coloc  nk=1/zset
zdiffstore             -4  wmv      1  1 1  coloc  nk=2/zset
zincrby                 4  wmF      1  1 1  single
zinter                 -3  rv       0  0 0  coloc  nk=1/zset
zintercard             -3  rv       0  0 0  coloc  nk=1/zset
zinterstore            -4  wmv      1  1 1  coloc  nk=2/zset
zlexcount               4  rF       1  1 1  single
zmpop                  -4  wv       0  0 0  coloc  nk=1/mpop
zmscore                -3  rF       1  1 1  single
zpopmax                -2  wF       1  1 1  single
zpopmin                -2  wF       1  1 1  single
zrandmember            -2  r        1  1 1  single
zrange                 -4  r        1  1 1  single
zrangebylex            -4  r        1  1 1  single
zrangebyscore          -4  r        1  1 1  single
zrangestore            -5  wm       1  2 1  coloc
zrank                   3  rF       1  1 1  single
zrem                   -3  wF       1  1 1  single
zremrangebylex          4  w        1  1 1  single
zremrangebyrank         4  w        1  1 1  single
zremrangebyscore        4  w        1  1 1  single
zrevrange              -4  r        1  1 1  single
zrevrangebylex         -4  r        1  1 1  single
zrevrangebyscore       -4  r        1  1 1  single
zrevrank                3  rF       1  1 1  single
zscan                  -3  r        1  1 1  rack
zscore                  3  rF       1  1 1  single
zunion                 -3  rv       0  0 0  coloc  nk=1/zset
zunionstore            -4  wmv      1  1 1  coloc  nk=2/zset

[hyperloglog]
pfadd                  -2  wmF      1  1 1  single
pfcount                -2  r        1 -1 1  coloc  x=pfcount
pfdebug                 3  wma      2  2 1  no:debug
pfmerge                -2  wm       1 -1 1  coloc
pfselftest              1  a        0  0 0  no:debug

[geo]
geoadd                 -5  wm       1  1 1  single
geodist                -4  r        1  1 1  single
geohash                -2  r        1  1 1  single
geopos                 -2  r        1  1 1  single
georadius              -6  wmv      1  1 1  single  read x=georadius
georadius_ro           -6  r        1  1 1  single
georadiusbymember      -5  wmv      1  1 1  single  read x=georadius
georadiusbymember_ro   -5  r        1  1 1  single
geosearch              -7  r        1  1 1  single
geosearchstore         -8  wm       1  2 1  coloc

[stream]
xack                   -4  wF       1  1 1  single
xadd                   -5  wmF      1  1 1  single
xautoclaim             -6  wF       1  1 1  single
xclaim                 -6  wF       1  1 1  single
xdel                   -3  wF       1  1 1  single
xgroup                 -2  -        0  0 0  sub
xgroup|create          -5  wm       2  2 1  single
xgroup|createconsumer   5  wm       2  2 1  single
xgroup|delconsumer      5  w        2  2 1  single
xgroup|destroy          4  w        2  2 1  single
xgroup|help             2  lt       0  0 0  local
xgroup|setid           -5  w        2  2 1  single
xinfo                  -2  -        0  0 0  sub
xinfo|consumers         4  r        2  2 1  single
xinfo|groups            3  r        2  2 1  single
xinfo|help              2  lt       0  0 0  local
xinfo|stream           -3  r        2  2 1  single
xlen                    2  rF       1  1 1  single
xpending               -3  r        1  1 1  single
xrange                 -4  r        1  1 1  single
xread                  -4  rBv      0  0 0  coloc  x=xread
xreadgroup             -7  wBv      0  0 0  coloc  x=xread
xrevrange              -4  r        1  1 1  single
xsetid                 -3  wmF      1  1 1  single
xtrim                  -4  w        1  1 1  single

[scripting]
eval                   -3  stMKv    0  0 0  coloc  write nk=2/eval
eval_ro                -3  rstMKv   0  0 0  coloc  nk=2/eval
evalsha                -3  stMKv    0  0 0  coloc  write nk=2/eval
evalsha_ro             -3  rstMKv   0  0 0  coloc  nk=2/eval
fcall                  -3  stMKv    0  0 0  coloc  write nk=2/fcall
fcall_ro               -3  rstMKv   0  0 0  coloc  nk=2/fcall
function               -2  -        0  0 0  sub
function|delete         3  ws       0  0 0  no:function
function|dump           2  s        0  0 0  local
function|flush         -2  ws       0  0 0  no:function
function|help           2  lt       0  0 0  local
function|kill           2  sb       0  0 0  all
function|list          -2  s        0  0 0  local
function|load          -3  wms      0  0 0  no:function
function|restore       -3  wms      0  0 0  no:function
function|stats          2  sb       0  0 0  local
script                 -2  -        0  0 0  sub
script|debug            3  s        0  0 0  no:luadebug
script|exists          -3  s        0  0 0  all
script|flush           -2  s        0  0 0  all
script|help             2  lt       0  0 0  local
script|kill             2  sb       0  0 0  all
script|load             3  st       0  0 0  all

[connection]
auth                   -2  sltFNb   0  0 0  node
client                 -2  -        0  0 0  sub
client|caching          3  slt      0  0 0  no:tracking
client|getname          2  slt      0  0 0  node
client|getredir         2  slt      0  0 0  no:tracking
client|help             2  lt       0  0 0  local
client|id               2  slt      0  0 0  node
client|info             2  slt      0  0 0  node
client|kill            -3  aslt     0  0 0  no:admin
client|list            -2  aslt     0  0 0  node
client|no-evict         3  aslt     0  0 0  no:admin
client|pause           -3  aslt     0  0 0  no:admin
client|reply            3  slt      0  0 0  no:reply
client|setinfo          4  slt      0  0 0  node
client|setname          3  slt      0  0 0  node
client|tracking        -3  slt      0  0 0  no:tracking
client|trackinginfo     2  slt      0  0 0  no:tracking
client|unblock         -3  aslt     0  0 0  no:admin
client|unpause          2  aslt     0  0 0  no:admin
dyno_config:conn_consistency  2  ltF  0  0 0  node
echo                    2  ltF      0  0 0  node
hello                  -1  sltFNb   0  0 0  node
ping                   -1  F        0  0 0  node
quit                   -1  sltFNb   0  0 0  node
reset                   1  sltFNb   0  0 0  node
select                  2  ltF      0  0 0  node

[server]
acl                    -2  -        0  0 0  no:acl
bgrewriteaof            1  asA      0  0 0  no:admin
bgsave                 -1  asA      0  0 0  no:admin
command                -1  lt       0  0 0  node  @connection
command|count           2  lt       0  0 0  node  @connection
command|docs           -2  lt       0  0 0  node  @connection
command|getkeys        -4  lt       0  0 0  node  @connection
command|getkeysandflags  -4  lt     0  0 0  node  @connection
command|help            2  lt       0  0 0  node  @connection
command|info           -2  lt       0  0 0  node  @connection
command|list           -2  lt       0  0 0  node  @connection
config                 -2  -        0  0 0  sub
config|get             -3  aslt     0  0 0  local
config|help             2  lt       0  0 0  local
config|resetstat        2  aslt     0  0 0  no:admin
config|rewrite          2  aslt     0  0 0  no:admin
config|set             -4  aslt     0  0 0  no:admin
dbsize                  1  rF       0  0 0  rackall  @keyspace
debug                  -2  aslt     0  0 0  no:debug
failover               -1  ast      0  0 0  no:replication
flushall               -1  w        0  0 0  no:flush  @keyspace @dangerous
flushdb                -1  w        0  0 0  no:flush  @keyspace @dangerous
info                   -1  lt       0  0 0  node  @dangerous
lastsave                1  ltF      0  0 0  local  @admin @dangerous
latency                -2  -        0  0 0  sub
latency|doctor          2  aslt     0  0 0  local
latency|graph           3  aslt     0  0 0  local
latency|help            2  lt       0  0 0  local
latency|histogram      -2  aslt     0  0 0  local
latency|history         3  aslt     0  0 0  local
latency|latest          2  aslt     0  0 0  local
latency|reset          -2  aslt     0  0 0  no:admin
lolwut                 -1  rF       0  0 0  local
memory                 -2  -        0  0 0  sub
memory|doctor           2  -        0  0 0  local
memory|help             2  lt       0  0 0  local
memory|malloc-stats     2  -        0  0 0  local
memory|purge            2  -        0  0 0  no:admin
memory|stats            2  -        0  0 0  local
memory|usage           -3  r        2  2 1  single
module                 -2  -        0  0 0  no:admin
monitor                 1  aslt     0  0 0  no:debug
psync                  -3  asAX     0  0 0  no:replication
replconf               -1  asltb    0  0 0  no:replication
replicaof               3  astA     0  0 0  no:replication
restore-asking         -4  wmk      1  1 1  no:cluster  @keyspace @dangerous
role                    1  sltF     0  0 0  local  @admin @dangerous
save                    1  asAX     0  0 0  no:admin
shutdown               -1  asltXb   0  0 0  no:admin
slaveof                 3  astA     0  0 0  no:replication
slowlog                -2  -        0  0 0  sub
slowlog|get            -2  alt      0  0 0  local
slowlog|help            2  lt       0  0 0  local
slowlog|len             2  alt      0  0 0  local
slowlog|reset           2  alt      0  0 0  no:admin
swapdb                  3  wF       0  0 0  no:db  @keyspace @dangerous
sync                    1  asAX     0  0 0  no:replication
time                    1  ltF      0  0 0  local

[transactions]
discard                 1  sltFb    0  0 0  node
exec                    1  sltL     0  0 0  node
multi                   1  sltFb    0  0 0  node
unwatch                 1  sltFb    0  0 0  node
watch                  -2  sltFb    1 -1 1  no:watch

[pubsub]
psubscribe             -2  pslt     0  0 0  no:pubsub
publish                 3  pltF     0  0 0  no:pubsub
pubsub                 -2  -        0  0 0  no:pubsub
punsubscribe           -1  pslt     0  0 0  no:pubsub
spublish                3  pltF     1  1 1  no:pubsub
ssubscribe             -2  pslt     1 -1 1  no:pubsub
subscribe              -2  pslt     0  0 0  no:pubsub
sunsubscribe           -1  pslt     1 -1 1  no:pubsub
unsubscribe            -1  pslt     0  0 0  no:pubsub

[cluster]
asking                  1  F        0  0 0  no:cluster  @connection
cluster                -2  -        0  0 0  no:cluster
readonly                1  ltF      0  0 0  no:cluster  @connection
readwrite               1  ltF      0  0 0  no:cluster  @connection
"""

REASONS = {
    "acl": "ACLs are not available through a Dynomite cluster (clients AUTH against"
           " requirepass)",
    "admin": "server administration is not available through a Dynomite cluster;"
             " send it to the datastore directly",
    "blocking": "blocking commands are not available through a Dynomite cluster",
    "cluster": "Redis Cluster commands are not available: Dynomite is not a Redis Cluster",
    "db": "only database 0 is available through a Dynomite cluster",
    "debug": "debugging commands are not available through a Dynomite cluster",
    "flush": "flushing a whole database is not available through a Dynomite cluster",
    "function": "function libraries are not replicated by Dynomite; load them into every"
                " datastore directly",
    "luadebug": "the Lua debugger is not available through a Dynomite cluster",
    "placement": "keys are placed by the Dynomite token ring and cannot be migrated by hand",
    "pubsub": "pub/sub is not available through a Dynomite cluster",
    "replication": "Redis replication commands are not available: Dynomite replicates by"
                   " itself",
    "reply": "reply suppression is not available through a Dynomite cluster",
    "tracking": "client-side caching is not available through a Dynomite cluster",
    "watch": "optimistic locking would need every replica's view of the keys; MULTI/EXEC"
    " runs a transaction whose keys share one hash tag",
    "wait": "WAIT is not available through a Dynomite cluster; use a quorum consistency"
            " level instead",
    "subcommand": "unknown subcommand",
}

# COMMAND DOCS: "name since summary", long summaries continued on indented lines.  Only
# commands that COMMAND lists need one.  Redis 7.0's texts, plus CLIENT SETINFO (7.2) and
# Dynomite's DYNO_CONFIG:CONN_CONSISTENCY.
DOCS = """
append 2.0.0 Append a value to a key
auth 1.0.0 Authenticate to the server
bitcount 2.6.0 Count set bits in a string
bitfield 3.2.0 Perform arbitrary bitfield integer operations on strings
bitfield_ro 6.0.0 Perform arbitrary bitfield integer operations on strings. Read-only variant of
    BITFIELD
bitop 2.6.0 Perform bitwise operations between strings
bitpos 2.8.7 Find first bit set or clear in a string
client 2.4.0 A container for client connection commands
client|getname 2.6.9 Get the current connection name
client|help 5.0.0 Show helpful text about the different subcommands
client|id 5.0.0 Returns the client ID for the current connection
client|info 6.2.0 Returns information about the current client connection.
client|list 2.4.0 Get the list of client connections
client|setinfo 7.2.0 Sets information specific to the client or connection.
client|setname 2.6.9 Set the current connection name
command 2.8.13 Get array of Redis command details
command|count 2.8.13 Get total number of Redis commands
command|docs 7.0.0 Get array of specific Redis command documentation
command|getkeys 2.8.13 Extract keys given a full Redis command
command|getkeysandflags 7.0.0 Extract keys and access flags given a full Redis command
command|help 5.0.0 Show helpful text about the different subcommands
command|info 2.8.13 Get array of specific Redis command details, or all when no argument is given.
command|list 7.0.0 Get an array of Redis command names
config 2.0.0 A container for server configuration commands
config|get 2.0.0 Get the values of configuration parameters
config|help 5.0.0 Show helpful text about the different subcommands
copy 6.2.0 Copy a key
dbsize 1.0.0 Return the number of keys in the selected database
decr 1.0.0 Decrement the integer value of a key by one
decrby 1.0.0 Decrement the integer value of a key by the given number
del 1.0.0 Delete a key
discard 2.0.0 Discard all commands issued after MULTI
dump 2.6.0 Return a serialized version of the value stored at the specified key.
dyno_config:conn_consistency dynomite Sets the read and write consistency level of this client
    connection (DC_ONE, DC_QUORUM, DC_SAFE_QUORUM or DC_EACH_SAFE_QUORUM).
echo 1.0.0 Echo the given string
eval 2.6.0 Execute a Lua script server side
eval_ro 7.0.0 Execute a read-only Lua script server side
evalsha 2.6.0 Execute a Lua script server side
evalsha_ro 7.0.0 Execute a read-only Lua script server side
exec 1.2.0 Execute all commands issued after MULTI
exists 1.0.0 Determine if a key exists
expire 1.0.0 Set a key's time to live in seconds
expireat 1.2.0 Set the expiration for a key as a UNIX timestamp
expiretime 7.0.0 Get the expiration Unix timestamp for a key
fcall 7.0.0 Invoke a function
fcall_ro 7.0.0 Invoke a read-only function
function 7.0.0 A container for function commands
function|dump 7.0.0 Dump all functions into a serialized binary payload
function|help 7.0.0 Show helpful text about the different subcommands
function|kill 7.0.0 Kill the function currently in execution.
function|list 7.0.0 List information about all the functions
function|stats 7.0.0 Return information about the function currently running (name, description,
    duration)
geoadd 3.2.0 Add one or more geospatial items in the geospatial index represented using a sorted
    set
geodist 3.2.0 Returns the distance between two members of a geospatial index
geohash 3.2.0 Returns members of a geospatial index as standard geohash strings
geopos 3.2.0 Returns longitude and latitude of members of a geospatial index
georadius 3.2.0 Query a sorted set representing a geospatial index to fetch members matching a
    given maximum distance from a point
georadius_ro 3.2.10 A read-only variant for GEORADIUS
georadiusbymember 3.2.0 Query a sorted set representing a geospatial index to fetch members
    matching a given maximum distance from a member
georadiusbymember_ro 3.2.10 A read-only variant for GEORADIUSBYMEMBER
geosearch 6.2.0 Query a sorted set representing a geospatial index to fetch members inside an area
    of a box or a circle.
geosearchstore 6.2.0 Query a sorted set representing a geospatial index to fetch members inside an
    area of a box or a circle, and store the result in another key.
get 1.0.0 Get the value of a key
getbit 2.2.0 Returns the bit value at offset in the string value stored at key
getdel 6.2.0 Get the value of a key and delete the key
getex 6.2.0 Get the value of a key and optionally set its expiration
getrange 2.4.0 Get a substring of the string stored at a key
getset 1.0.0 Set the string value of a key and return its old value
hdel 2.0.0 Delete one or more hash fields
hello 6.0.0 Handshake with Redis
hexists 2.0.0 Determine if a hash field exists
hget 2.0.0 Get the value of a hash field
hgetall 2.0.0 Get all the fields and values in a hash
hincrby 2.0.0 Increment the integer value of a hash field by the given number
hincrbyfloat 2.6.0 Increment the float value of a hash field by the given amount
hkeys 2.0.0 Get all the fields in a hash
hlen 2.0.0 Get the number of fields in a hash
hmget 2.0.0 Get the values of all the given hash fields
hmset 2.0.0 Set multiple hash fields to multiple values
hrandfield 6.2.0 Get one or multiple random fields from a hash
hscan 2.8.0 Incrementally iterate hash fields and associated values
hset 2.0.0 Set the string value of a hash field
hsetnx 2.0.0 Set the value of a hash field, only if the field does not exist
hstrlen 3.2.0 Get the length of the value of a hash field
hvals 2.0.0 Get all the values in a hash
incr 1.0.0 Increment the integer value of a key by one
incrby 1.0.0 Increment the integer value of a key by the given amount
incrbyfloat 2.6.0 Increment the float value of a key by the given amount
info 1.0.0 Get information and statistics about the server
keys 1.0.0 Find all keys matching the given pattern
lastsave 1.0.0 Get the UNIX time stamp of the last successful save to disk
latency 2.8.13 A container for latency diagnostics commands
latency|doctor 2.8.13 Return a human readable latency analysis report.
latency|graph 2.8.13 Return a latency graph for the event.
latency|help 2.8.13 Show helpful text about the different subcommands.
latency|histogram 7.0.0 Return the cumulative distribution of latencies of a subset of commands or
    all.
latency|history 2.8.13 Return timestamp-latency samples for the event.
latency|latest 2.8.13 Return the latest latency samples for all events.
lcs 7.0.0 Find longest common substring
lindex 1.0.0 Get an element from a list by its index
linsert 2.2.0 Insert an element before or after another element in a list
llen 1.0.0 Get the length of a list
lmove 6.2.0 Pop an element from a list, push it to another list and return it
lmpop 7.0.0 Pop elements from a list
lolwut 5.0.0 Display some computer art and the Redis version
lpop 1.0.0 Remove and get the first elements in a list
lpos 6.0.6 Return the index of matching elements on a list
lpush 1.0.0 Prepend one or multiple elements to a list
lpushx 2.2.0 Prepend an element to a list, only if the list exists
lrange 1.0.0 Get a range of elements from a list
lrem 1.0.0 Remove elements from a list
lset 1.0.0 Set the value of an element in a list by its index
ltrim 1.0.0 Trim a list to the specified range
memory 4.0.0 A container for memory diagnostics commands
memory|doctor 4.0.0 Outputs memory problems report
memory|help 4.0.0 Show helpful text about the different subcommands
memory|malloc-stats 4.0.0 Show allocator internal stats
memory|stats 4.0.0 Show memory usage details
memory|usage 4.0.0 Estimate the memory usage of a key
mget 1.0.0 Get the values of all the given keys
mset 1.0.1 Set multiple keys to multiple values
msetnx 1.0.1 Set multiple keys to multiple values, only if none of the keys exist
multi 1.2.0 Mark the start of a transaction block
object 2.2.3 A container for object introspection commands
object|encoding 2.2.3 Inspect the internal encoding of a Redis object
object|freq 4.0.0 Get the logarithmic access frequency counter of a Redis object
object|help 6.2.0 Show helpful text about the different subcommands
object|idletime 2.2.3 Get the time since a Redis object was last accessed
object|refcount 2.2.3 Get the number of references to the value of the key
persist 2.2.0 Remove the expiration from a key
pexpire 2.6.0 Set a key's time to live in milliseconds
pexpireat 2.6.0 Set the expiration for a key as a UNIX timestamp specified in milliseconds
pexpiretime 7.0.0 Get the expiration Unix timestamp for a key in milliseconds
pfadd 2.8.9 Adds the specified elements to the specified HyperLogLog.
pfcount 2.8.9 Return the approximated cardinality of the set(s) observed by the HyperLogLog at
    key(s).
pfmerge 2.8.9 Merge N different HyperLogLogs into a single one.
ping 1.0.0 Ping the server
psetex 2.6.0 Set the value and expiration in milliseconds of a key
pttl 2.6.0 Get the time to live for a key in milliseconds
quit 1.0.0 Close the connection
randomkey 1.0.0 Return a random key from the keyspace
rename 1.0.0 Rename a key
renamenx 1.0.0 Rename a key, only if the new key does not exist
reset 6.2.0 Reset the connection
restore 2.6.0 Create a key using the provided serialized value, previously obtained using DUMP.
role 2.8.12 Return the role of the instance in the context of replication
rpop 1.0.0 Remove and get the last elements in a list
rpoplpush 1.2.0 Remove the last element in a list, prepend it to another list and return it
rpush 1.0.0 Append one or multiple elements to a list
rpushx 2.2.0 Append an element to a list, only if the list exists
sadd 1.0.0 Add one or more members to a set
scan 2.8.0 Incrementally iterate the keys space
scard 1.0.0 Get the number of members in a set
script 2.6.0 A container for Lua scripts management commands
script|exists 2.6.0 Check existence of scripts in the script cache.
script|flush 2.6.0 Remove all the scripts from the script cache.
script|help 5.0.0 Show helpful text about the different subcommands
script|kill 2.6.0 Kill the script currently in execution.
script|load 2.6.0 Load the specified Lua script into the script cache.
sdiff 1.0.0 Subtract multiple sets
sdiffstore 1.0.0 Subtract multiple sets and store the resulting set in a key
select 1.0.0 Change the selected database for the current connection
set 1.0.0 Set the string value of a key
setbit 2.2.0 Sets or clears the bit at offset in the string value stored at key
setex 2.0.0 Set the value and expiration of a key
setnx 1.0.0 Set the value of a key, only if the key does not exist
setrange 2.2.0 Overwrite part of a string at key starting at the specified offset
sinter 1.0.0 Intersect multiple sets
sintercard 7.0.0 Intersect multiple sets and return the cardinality of the result
sinterstore 1.0.0 Intersect multiple sets and store the resulting set in a key
sismember 1.0.0 Determine if a given value is a member of a set
slowlog 2.2.12 A container for slow log commands
slowlog|get 2.2.12 Get the slow log's entries
slowlog|help 6.2.0 Show helpful text about the different subcommands
slowlog|len 2.2.12 Get the slow log's length
smembers 1.0.0 Get all the members in a set
smismember 6.2.0 Returns the membership associated with the given elements for a set
smove 1.0.0 Move a member from one set to another
sort 1.0.0 Sort the elements in a list, set or sorted set
sort_ro 7.0.0 Sort the elements in a list, set or sorted set. Read-only variant of SORT.
spop 1.0.0 Remove and return one or multiple random members from a set
srandmember 1.0.0 Get one or multiple random members from a set
srem 1.0.0 Remove one or more members from a set
sscan 2.8.0 Incrementally iterate Set elements
strlen 2.2.0 Get the length of the value stored in a key
substr 1.0.0 Get a substring of the string stored at a key
sunion 1.0.0 Add multiple sets
sunionstore 1.0.0 Add multiple sets and store the resulting set in a key
time 2.6.0 Return the current server time
touch 3.2.1 Alters the last access time of a key(s). Returns the number of existing keys specified.
ttl 1.0.0 Get the time to live for a key in seconds
type 1.0.0 Determine the type stored at key
unlink 4.0.0 Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non
    blocking.
unwatch 2.2.0 Forget about all watched keys
xack 5.0.0 Marks a pending message as correctly processed, effectively removing it from the pending
    entries list of the consumer group. Return value of the command is the number of messages
    successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.
xadd 5.0.0 Appends a new entry to a stream
xautoclaim 6.2.0 Changes (or acquires) ownership of messages in a consumer group, as if the
    messages were delivered to the specified consumer.
xclaim 5.0.0 Changes (or acquires) ownership of a message in a consumer group, as if the message
    was delivered to the specified consumer.
xdel 5.0.0 Removes the specified entries from the stream. Returns the number of items actually
    deleted, that may be different from the number of IDs passed in case certain IDs do not exist.
xgroup 5.0.0 A container for consumer groups commands
xgroup|create 5.0.0 Create a consumer group.
xgroup|createconsumer 6.2.0 Create a consumer in a consumer group.
xgroup|delconsumer 5.0.0 Delete a consumer from a consumer group.
xgroup|destroy 5.0.0 Destroy a consumer group.
xgroup|help 5.0.0 Show helpful text about the different subcommands
xgroup|setid 5.0.0 Set a consumer group to an arbitrary last delivered ID value.
xinfo 5.0.0 A container for stream introspection commands
xinfo|consumers 5.0.0 List the consumers in a consumer group
xinfo|groups 5.0.0 List the consumer groups of a stream
xinfo|help 5.0.0 Show helpful text about the different subcommands
xinfo|stream 5.0.0 Get information about a stream
xlen 5.0.0 Return the number of entries in a stream
xpending 5.0.0 Return information and entries from a stream consumer group pending entries list,
    that are messages fetched but never acknowledged.
xrange 5.0.0 Return a range of elements in a stream, with IDs matching the specified IDs interval
xread 5.0.0 Return never seen elements in multiple streams, with IDs greater than the ones reported
    by the caller for each stream. Can block.
xreadgroup 5.0.0 Return new entries from a stream using a consumer group, or access the history of
    the pending entries for a given consumer. Can block.
xrevrange 5.0.0 Return a range of elements in a stream, with IDs matching the specified IDs
    interval, in reverse order (from greater to smaller IDs) compared to XRANGE
xsetid 5.0.0 An internal command for replicating stream values
xtrim 5.0.0 Trims the stream to (approximately if '~' is passed) a certain size
zadd 1.2.0 Add one or more members to a sorted set, or update its score if it already exists
zcard 1.2.0 Get the number of members in a sorted set
zcount 2.0.0 Count the members in a sorted set with scores within the given values
zdiff 6.2.0 Subtract multiple sorted sets
zdiffstore 6.2.0 Subtract multiple sorted sets and store the resulting sorted set in a new key
zincrby 1.2.0 Increment the score of a member in a sorted set
zinter 6.2.0 Intersect multiple sorted sets
zintercard 7.0.0 Intersect multiple sorted sets and return the cardinality of the result
zinterstore 2.0.0 Intersect multiple sorted sets and store the resulting sorted set in a new key
zlexcount 2.8.9 Count the number of members in a sorted set between a given lexicographical range
zmpop 7.0.0 Remove and return members with scores in a sorted set
zmscore 6.2.0 Get the score associated with the given members in a sorted set
zpopmax 5.0.0 Remove and return members with the highest scores in a sorted set
zpopmin 5.0.0 Remove and return members with the lowest scores in a sorted set
zrandmember 6.2.0 Get one or multiple random elements from a sorted set
zrange 1.2.0 Return a range of members in a sorted set
zrangebylex 2.8.9 Return a range of members in a sorted set, by lexicographical range
zrangebyscore 1.0.5 Return a range of members in a sorted set, by score
zrangestore 6.2.0 Store a range of members from sorted set into another key
zrank 2.0.0 Determine the index of a member in a sorted set
zrem 1.2.0 Remove one or more members from a sorted set
zremrangebylex 2.8.9 Remove all members in a sorted set between the given lexicographical range
zremrangebyrank 2.0.0 Remove all members in a sorted set within the given indexes
zremrangebyscore 1.2.0 Remove all members in a sorted set within the given scores
zrevrange 1.2.0 Return a range of members in a sorted set, by index, with scores ordered from high
    to low
zrevrangebylex 2.8.9 Return a range of members in a sorted set, by lexicographical range, ordered
    from higher to lower strings.
zrevrangebyscore 2.2.0 Return a range of members in a sorted set, by score, with scores ordered
    from high to low
zrevrank 2.0.0 Determine the index of a member in a sorted set, with scores ordered from high to
    low
zscan 2.8.0 Incrementally iterate sorted sets elements and associated scores
zscore 1.2.0 Get the score associated with the given member in a sorted set
zunion 6.2.0 Add multiple sorted sets
zunionstore 2.0.0 Add multiple sorted sets and store the resulting sorted set in a new key
"""
