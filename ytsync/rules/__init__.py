"""Rules that plan for the user: a TOML file that places videos into categories."""
