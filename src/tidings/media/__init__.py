"""Media lifecycle and blob storage."""
