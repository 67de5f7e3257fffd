"""Evidence intake: every byte a client sends, stored durably, exactly once."""
