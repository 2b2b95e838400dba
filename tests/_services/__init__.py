"""Real services (PostgreSQL, ...) that the test session starts for itself."""
