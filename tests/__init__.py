"""prediag test suite."""
