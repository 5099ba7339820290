"""A clip's shots and job files on Ray workers; nothing below this package imports it."""
