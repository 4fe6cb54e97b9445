"""What every front end offers and shows: commands, status, listings, advice."""
