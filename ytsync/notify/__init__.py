"""Notifications: a job tells its owner what needs them, through Apprise.

An outbox.  The step that meets an event (a pause for a new sign-in, a failure, the
end of the job, a held-back playlist, a refused category) records one message in the
channel's database, in its own transaction, at most once per job and event
(``events``, ``outbox``).  The worker's sender (``sender``) delivers what is recorded,
with a short timeout and a few tries, then logs: a notifier that is down never fails,
slows or stalls a job.  Nothing here is in workflow code or history.
"""
