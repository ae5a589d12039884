"""Running SQL: the guarded, read-only, time-limited backend an episode reads through, and the
PostgreSQL sandboxes in which tasks with setup SQL are played."""
