"""Turns normalized platform records into rows, and runs the background jobs; knows no platform."""
