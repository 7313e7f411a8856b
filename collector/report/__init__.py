"""Rendering evaluations for people: the HTML report, text and markdown tables."""
