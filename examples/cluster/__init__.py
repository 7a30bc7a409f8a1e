"""A three-node cluster on RabbitMQ: load balancing and surviving ``kill -9``.

Run it with ``python -m examples.cluster`` (RabbitMQ at ``ENOTIME_AMQP_URL``,
default ``amqp://guest:guest@127.0.0.1:5672/``). ``docs/kernel.md`` ("Actors on
other nodes") says what it shows; ``tests/system/test_cluster_example.py`` runs it.

- :mod:`examples.cluster.jobs`: the wire messages.
- :mod:`examples.cluster.node`: the tree each node process runs
  (``enotime run examples.cluster.node:tree --procs 3 --name demo``).
- :mod:`examples.cluster.run`: the one command: the cluster, a client, a kill, a summary.
"""
