"""The sync's side effects, run by the activities: a job's steps (batches), budget,
operation rows, writes."""
