"""Database access: the engine (the only place SQL dialects differ), named
transactions with after-commit hooks, and versioned migrations."""
