"""Outbound HTTP the registry makes on a user's behalf, behind one address guard."""
