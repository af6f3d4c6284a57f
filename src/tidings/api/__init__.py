"""The RPC surface: typed parameter schemas, the dispatcher, and one module of
handlers per area. The same dispatcher serves every transport."""
