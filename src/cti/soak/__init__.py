"""`cti soak`: the hotline under a few times its reference load for a while, with the
CTI, PostgreSQL and the (simulated) Asterisk killed and restarted in turn, then checked
for what must always hold (docs/soak.md)."""
