"""Fan-out of committed updates to the devices connected to each node.

``Bus.publish`` is called after a transaction commits; every node (this one
included) receives the event and hands it to its local hub. Implementations:
``LocalBus`` (one process), ``RedisBus`` (several processes sharing one
database)."""
