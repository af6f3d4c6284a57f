"""Pure SQL over the ``Txn`` interface, one module per aggregate. Functions
here run inside a transaction (``*_txn``), take and return typed rows, and
never decide policy: that is the services' job."""
