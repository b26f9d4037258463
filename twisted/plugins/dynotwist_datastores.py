"""dynotwist's built-in datastore kinds as plugins: ``data_store: redis`` or
``data_store: memcache`` (the same as 0 and 1). A package of one's own adds a kind the
same way: a module in its ``twisted/plugins/`` with an IDatastoreKind provider."""

from dynotwist.datastores import MemcacheKind, RedisKind

redis = RedisKind()
memcache = MemcacheKind()
