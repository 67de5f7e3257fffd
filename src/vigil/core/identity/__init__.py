"""Users, roles, groups, passwords and tokens: one identity for all five contracts."""
