"""Background work: actors, the outbox relay, the scheduler, and the Dramatiq broker."""
