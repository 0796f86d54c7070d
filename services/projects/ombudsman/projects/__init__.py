"""The projects service: projects, connections (secrets encrypted), schema mappings, saved pipelines."""
