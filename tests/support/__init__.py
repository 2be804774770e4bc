"""Test support: real servers, CLI runner, content comparison."""
