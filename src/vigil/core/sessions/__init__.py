"""Proctoring sessions: one candidate, optionally one exam, a status and a risk score."""
