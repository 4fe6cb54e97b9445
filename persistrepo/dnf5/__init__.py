"""dnf5's side: its actions, capture, module-stream reader, state and `dnf5 persist`."""
