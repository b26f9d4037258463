"""What the trial suites share, each helper once.

In memory (the unit tests):

- ``transports``: a StringTransport the test flushes, under a node's batched writes
- ``nodes``: a whole node on in-memory transports and a fake clock
- ``fakes``: stand-ins for the parts of a node a peer-port test does not exercise
- ``configs``: node configs for tests that are not about them
- ``chunks``: inputs cut into pieces; a counter of the bytes a parser scans
- ``resp``, ``memcache``: RESP replies and memcached requests in assertions
- ``vectors``: test vectors shared with the comparisons with real servers
- ``metrics``: Dynomite's REST samples and Prometheus text, read back

On loopback (the integration tests; the nodes, clusters and datastores themselves
come from ``dynotwist.testing``):

- ``fixtures``: processes shared by the tests of a class
- ``raw``: exact bytes both ways, blocking or in the reactor
- ``traffic``: pipelined traffic checked reply by reply while things fail
- ``waiting``: bounded polls for states that come asynchronously
- ``differential``: seeded commands compared between a node and a reference Redis
- ``relay``: a recording TCP relay for watching peer traffic
"""
