"""The domain: plain Python services over the database and blob store; no HTTP here."""
