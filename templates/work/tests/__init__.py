"""The tests of the work repository."""
