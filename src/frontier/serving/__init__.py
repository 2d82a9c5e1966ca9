"""HTTP plumbing every dialect shares: a client that leaves, and a generation started before the first byte."""
