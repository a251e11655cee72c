"""Hostile and broken input: each case ends in a located error, a counted set-aside, or a bounded stop."""
