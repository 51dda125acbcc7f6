"""The backup catalog as people see it: browsing restore points and folders (browse.py),
search (search.py), previews of backed-up mail (preview.py), one item's download
(downloads.py), and the pages (views.py, urls.py)."""
