"""Spiders of the aiwatch crawl."""
