"""Data tables: runtimes, architectures, limits and ABI policy."""
