"""Plans: the graph of intermediate tables, the eight relational-algebra operations that add to
it, and the decomposition of SQL into those operations.  No engine and no environment: a plan
is built and validated against schemas alone, and compiled by a dialect."""
