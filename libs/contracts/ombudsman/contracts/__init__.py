"""Ombudsman's shared contracts: events and their envelope, subjects, replies, results, pipelines.

Pure data: no I/O. Every service and library speaks through these models.
"""
