"""Tests of the poem plugin."""
