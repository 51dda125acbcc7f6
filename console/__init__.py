"""The admin console (/admin/): people and roles, logged-in users, the audit log,
restore-operator scopes. Pages only: what they change is domain code in authflow/,
restore/ and portal/audit.py."""
