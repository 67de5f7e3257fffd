"""The event log: everything noticed during a session, whoever noticed it."""
