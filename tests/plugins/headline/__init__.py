"""Tests of the headline plugin."""
