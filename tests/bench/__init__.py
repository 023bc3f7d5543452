"""The bench's smoke test and its hand-counted lower bounds (bench/)."""
