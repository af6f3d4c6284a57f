"""The only code that changes state. Each mutation is one named transaction
that writes the facts and their updates, then hands the updates to the bus
after commit (``txn.call_after``)."""
