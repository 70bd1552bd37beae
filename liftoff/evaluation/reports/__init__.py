"""Runs and scores rendered for people and CI: JSON, HTML, JUnit XML, Markdown."""
