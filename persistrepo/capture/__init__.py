"""Capture: what a dnf 4 or yum transaction installed, into the store."""
