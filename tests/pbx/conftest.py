"""The `pbx` tier: the product on a real Asterisk 22 with sipp phones, checked against
Asterisk's own accounting (CEL, CDR, queue_log). Every module here sets
`pytestmark = pytest.mark.pbx`; the default run leaves them out (`-m "not pbx"` in
pyproject's addopts): `pytest -m pbx tests/pbx` runs them (docs/pbx.md)."""
