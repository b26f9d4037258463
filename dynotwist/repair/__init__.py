"""Datastore-side repair tools, on the reactor with txredisapi.

- :mod:`dynotwist.repair.warmup`: a new or replaced node copies its token range from
  another rack's datastore before it serves reads (``warm_up: true``, the admin port's
  ``/warm_up/start``, ``python -m dynotwist.repair warm-up``);
- :mod:`dynotwist.repair.antientropy`: compare a token range between racks, key by
  key, and fix the differences (``python -m dynotwist.repair check``).

Both read and write datastores directly (SCAN, DUMP, PTTL, RESTORE), never through the
request path; :mod:`dynotwist.repair.keys` holds what they share.
"""
