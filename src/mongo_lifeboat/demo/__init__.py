"""The demo scenario and the deterministic workload it (and the tests) use."""
