"""The SUSIE browser client's evidence contract (susie-evidence-contract.md)."""
