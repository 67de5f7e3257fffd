"""Exams: what a proctoring session is for, and who owns it."""
