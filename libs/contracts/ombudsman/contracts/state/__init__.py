"""State folds: the current state of an aggregate from its events.

They live in contracts so that the owning service (to decide) and the audit service (to replay a
stream as of an instant) use the same function — never a second copy of the logic.
"""
