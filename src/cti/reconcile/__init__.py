"""`cti reconcile`: our call records against Asterisk's own accounting (CEL, CDR,
queue_log), field by field, with the definitions of docs/records.md."""
