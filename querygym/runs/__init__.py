"""Playing agents over task sets: the runner (one process, a process pool or Ray; resumable),
summaries and scorecards."""
