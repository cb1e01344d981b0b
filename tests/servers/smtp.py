"""Placeholder: fixtures arrive with their module."""
