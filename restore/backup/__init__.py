"""Backups: a generic runner (runner.py) and one reader per workload (mail.py, onedrive.py)."""
