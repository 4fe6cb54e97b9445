"""The store: its layout on disk, its record and repodata, and the operations on it."""
