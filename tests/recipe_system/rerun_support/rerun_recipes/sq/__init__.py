"""Science-quality recipes of the re-run tests."""
