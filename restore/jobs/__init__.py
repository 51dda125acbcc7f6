"""Restore jobs: the state table and domain operations (lifecycle.py), the runner that puts
items back into Microsoft 365 (runner.py) with one restorer per workload (restorers/) and
per-mailbox throttling (throttle.py), job downloads (downloads.py), the pages (views.py,
urls.py), and the Celery tasks with the receivers that queue them (tasks.py, signals.py)."""
