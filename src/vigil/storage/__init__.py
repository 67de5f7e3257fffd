"""Persistence: the database (SQLite or PostgreSQL) and the blob store (files or S3)."""
