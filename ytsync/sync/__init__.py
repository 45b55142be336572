"""The sync's side effects, used by the activities: budget, operation rows, writes."""
