"""Developer tooling for prediag: the `prediag` CLI and the local stack."""
