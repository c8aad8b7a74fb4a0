"""Several CTIs, one leader: a lease in PostgreSQL with a fencing epoch (lease.py), and
`cti serve` leading or standing by with it (node.py)."""
