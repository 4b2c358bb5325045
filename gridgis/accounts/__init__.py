"""User accounts for people (the console): users, password hashes, sessions, login throttling."""
