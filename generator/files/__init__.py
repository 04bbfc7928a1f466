"""The project's file I/O: YAML, atomic writes, the rendered tree on disk, loading spec modules,
escaping."""
