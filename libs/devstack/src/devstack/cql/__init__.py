"""A single-node, in-memory CQL server speaking the native protocol v3/v4.

This is a development server, not a database: it exists so the catalog's real
``cassandra-driver`` code runs natively and in CI where no Cassandra can be installed.
Docker compose runs Apache Cassandra. It keeps everything in memory (a restart empties it),
implements the subset of CQL the stack uses with Cassandra's semantics (last write wins by
write timestamp, TTLs, lightweight transactions, counters, paging), and answers anything else
with a proper CQL error.
"""
