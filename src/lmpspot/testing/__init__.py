"""Local stand-ins for AWS services lmpspot talks to (tests, molecule, local executor)."""
