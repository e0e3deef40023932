"""Tests of the `stalwart` command, driven as a user would drive it."""
